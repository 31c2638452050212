"""Named queries shared by the CLI (`parley sql --query NAME`), reports and tests.

``NAMED_QUERIES`` maps a name to ``Query(description, sql)`` (a plain 2-tuple). The SQL reads
the store's tables (``recordings``, ``utterances``, ``speaker_turns``, ``tags``, ``findings``,
``scorecards``, ``scorecard_lines``, ``errors``, ``drops``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import pandas as pd

from .errors import ConfigError


class Query(NamedTuple):
    description: str
    sql: str


CURRENT_RUBRICS = """
    SELECT rubric_id, arg_max(rubric_version, scored_at) AS rubric_version
    FROM scorecards GROUP BY rubric_id
"""
"""Per rubric id, the version scored most recently: the one reports and queries use by default."""

FOLLOW_UP_DAYS = 56
"""A complaint not resolved by the close of the third business day needs a final response within
eight weeks (FCA DISP 1.6.2R): the register's ``respond_by``."""

COMPLAINTS_REGISTER = f"""
WITH itag AS (SELECT * FROM tags WHERE utterance_index IS NULL),
     c AS (SELECT recording_id, score, model_version FROM itag WHERE kind = 'complaint' AND label = 'yes'),
     ev AS (SELECT recording_id, kind, unnest(evidence) AS idx FROM itag
            WHERE kind IN ('complaint', 'resolved_on_call', 'escalation_requested') AND label = 'yes'),
     said AS (SELECT ev.recording_id, ev.kind,
                     string_agg(CASE WHEN ev.kind = 'complaint' THEN u.text ELSE u.role || ': ' || u.text END, ' / ' ORDER BY u.idx) AS words
              FROM ev JOIN utterances u ON u.recording_id = ev.recording_id AND u.idx = ev.idx GROUP BY ALL),
     cause AS (SELECT recording_id, string_agg(label, '; ' ORDER BY score DESC, label) AS cause FROM itag WHERE kind = 'complaint_topic' GROUP BY 1),
     product AS (SELECT recording_id, arg_max(label, score) AS product FROM itag WHERE kind = 'complaint_product' GROUP BY 1),
     outcome AS (SELECT recording_id, bool_or(kind = 'resolved_on_call' AND label = 'yes') AS resolved_on_call,
                        bool_or(kind = 'escalation_requested' AND label = 'yes') AS escalation_requested
                 FROM itag WHERE kind IN ('resolved_on_call', 'escalation_requested') GROUP BY 1),
     register AS (
        SELECT r.id AS recording_id, r.source_name, coalesce(r.started_at, r.received_at, r.processed_at) AS started_at,
               r.staff_id, r.team, r.channel, product.product, cause.cause, round(c.score, 3) AS complaint_score,
               w.words AS customer_words, coalesce(outcome.resolved_on_call, false) AS resolved_on_call, rs.words AS resolution_evidence,
               coalesce(outcome.escalation_requested, false) AS escalation_requested, es.words AS escalation_evidence,
               c.model_version
        FROM c JOIN recordings r ON r.id = c.recording_id
        LEFT JOIN cause ON cause.recording_id = c.recording_id
        LEFT JOIN product ON product.recording_id = c.recording_id
        LEFT JOIN outcome ON outcome.recording_id = c.recording_id
        LEFT JOIN said w ON w.recording_id = c.recording_id AND w.kind = 'complaint'
        LEFT JOIN said rs ON rs.recording_id = c.recording_id AND rs.kind = 'resolved_on_call'
        LEFT JOIN said es ON es.recording_id = c.recording_id AND es.kind = 'escalation_requested')
SELECT recording_id, source_name, started_at, staff_id, team, channel, product, cause, complaint_score, customer_words,
       resolved_on_call, resolution_evidence, escalation_requested, escalation_evidence,
       CASE WHEN NOT resolved_on_call THEN date_diff('day', CAST(started_at AS DATE), current_date) END AS age_days,
       CASE WHEN NOT resolved_on_call THEN CAST(started_at AS DATE) + INTERVAL {FOLLOW_UP_DAYS} DAY END::DATE AS respond_by,
       model_version
FROM register
"""
"""One row per interaction in which the customer complained: when, who (staff, team, channel),
what (product, cause, the customer's redacted words), whether it was resolved on the call and
escalation asked for (with the words), and, when not resolved, its age in days and the date a
final response is due. Wrap it to filter: ``SELECT * FROM (COMPLAINTS_REGISTER) WHERE ...``."""

TWO_VOICES = """
    SELECT a.recording_id, a.speaker AS speaker_a, b.speaker AS speaker_b,
           greatest(a.start_s, b.start_s) AS start_s, least(a.end_s, b.end_s) AS end_s
    FROM speaker_turns a JOIN speaker_turns b ON a.recording_id = b.recording_id AND a.speaker < b.speaker
         AND a.start_s < b.end_s AND b.start_s < a.end_s
    WHERE least(a.end_s, b.end_s) - greatest(a.start_s, b.start_s) >= 0.3
"""
"""Every stretch where two speakers' turns overlap for 0.3 s or more (the shortest stretch heard
as two voices at once, ``DiarizeOptions.min_overlap_s``): a mono recording's transcript may hold
only one of the two there. Read by the ``voices_at_once`` query and the interaction page."""

NAMED_QUERIES: dict[str, Query] = {
    "recent_recordings": Query(
        "The last 50 recordings processed, with their metadata and length",
        """SELECT id[:12] AS id, source_name, staff_id, team, site, channel, direction, started_at,
                  round(duration_s, 1) AS duration_s, processed_at
           FROM recordings ORDER BY processed_at DESC LIMIT 50""",
    ),
    "quarantined": Query(
        "Files that were quarantined, why, and where they are",
        """SELECT occurred_at, source_name, stage, message, quarantine_path
           FROM errors WHERE kind <> 'transient' ORDER BY occurred_at DESC""",
    ),
    "duplicates": Query(
        "Drops whose content was already processed",
        """SELECT received_at, source_name, detail FROM drops WHERE outcome = 'duplicate' ORDER BY received_at DESC""",
    ),
    "calls_without_disclosure": Query(
        "Interactions where the customer was not told the call is recorded (by staff; or by the phone system's recorded "
        "welcome, where the rule counts it), with where staff should have said it.",
        """
        SELECT r.id AS recording_id, r.source_name, r.staff_id, r.team, r.started_at,
               f.utterance_index AS expected_at_utterance, f.start_s, f.end_s, u.text AS expected_at_text
        FROM findings f
        JOIN recordings r ON r.id = f.recording_id
        LEFT JOIN utterances u ON u.recording_id = f.recording_id AND u.idx = f.utterance_index
        WHERE f.rule = 'call_recording_disclosure' AND NOT f.passed
        ORDER BY r.started_at DESC NULLS LAST, r.id
        """,
    ),
    "vulnerable_customers_30d": Query(
        "Interactions of the last 30 days where the customer showed a vulnerability cue.",
        """
        SELECT r.id AS recording_id, r.customer_ref, r.staff_id, r.team, r.started_at,
               list(f.rule ORDER BY f.start_s) AS cues,
               list(f.matched ORDER BY f.start_s) AS evidence,
               min(f.start_s) AS first_cue_s
        FROM findings f JOIN recordings r ON r.id = f.recording_id
        WHERE f.category = 'vulnerability' AND NOT f.passed
          AND r.started_at >= CAST(now() AS TIMESTAMP) - INTERVAL 30 DAY
        GROUP BY ALL
        ORDER BY r.started_at DESC
        """,
    ),
    "prohibited_promises": Query(
        "Interactions where staff made a prohibited promise (e.g. guaranteed returns), with what was said.",
        """
        SELECT r.id AS recording_id, r.staff_id, r.team, r.started_at, f.utterance_index, f.start_s, f.end_s,
               f.matched, f.score
        FROM findings f JOIN recordings r ON r.id = f.recording_id
        WHERE f.rule = 'prohibited_promises' AND NOT f.passed
        ORDER BY r.started_at DESC NULLS LAST, r.id
        """,
    ),
    "complaints_by_topic": Query(
        "Number of interactions per complaint topic, most frequent first.",
        """
        SELECT t.label AS topic, count(DISTINCT t.recording_id) AS interactions,
               min(r.started_at) AS first_seen, max(r.started_at) AS last_seen
        FROM tags t JOIN recordings r ON r.id = t.recording_id
        WHERE t.kind = 'complaint_topic' AND t.utterance_index IS NULL
        GROUP BY t.label
        ORDER BY interactions DESC, topic
        """,
    ),
    "complaints_register": Query(
        "Every complaint: staff, team, channel, date, product, cause, the customer's words, resolved on the call, escalation asked; age of those still open.",
        COMPLAINTS_REGISTER + "ORDER BY resolved_on_call, started_at, recording_id",
    ),
    "low_scores": Query(
        "Scorecards (current rubric versions) below their pass mark or auto-failed, lowest first.",
        f"""
        SELECT s.recording_id, r.staff_id, r.team, r.started_at, s.rubric_id, s.rubric_version,
               s.score, s.auto_failed,
               (SELECT list(l.criterion ORDER BY l.criterion) FROM scorecard_lines l
                 WHERE l.recording_id = s.recording_id AND l.rubric_id = s.rubric_id
                   AND l.rubric_version = s.rubric_version AND l.status = 'fail') AS failed_criteria
        FROM scorecards s
        JOIN ({CURRENT_RUBRICS}) c USING (rubric_id, rubric_version)
        JOIN recordings r ON r.id = s.recording_id
        WHERE NOT s.passed
        ORDER BY s.score NULLS FIRST, s.recording_id
        """,
    ),
    "flagged_roles": Query(
        "Interactions whose staff/customer roles a person should check: the role assignment was flagged (mono or "
        "face-to-face speech told apart with low confidence, the voices not clearly two people, the staff script spoken "
        "by the customer's side...) or some utterances have no role, so role-based rules and scorecards may read the "
        "wrong person's words. How the roles were decided, how sure, why, and the scorecards that rest on them.",
        f"""
        WITH u AS (SELECT recording_id,
                          count(*) FILTER (WHERE (role NOT IN ('staff', 'customer') OR role IS NULL)
                                           AND coalesce(speaker, '') NOT IN ('HOLD', 'SYSTEM')) AS unknown_role_utterances,  -- the phone system's are no one's
                          count(*) AS utterances
                   FROM utterances GROUP BY 1),
             cards AS (SELECT s.recording_id, count(*) AS scorecards,
                              list(s.rubric_id || ' ' || round(s.score, 1) ORDER BY s.rubric_id) AS scores
                       FROM scorecards s JOIN ({CURRENT_RUBRICS}) c USING (rubric_id, rubric_version) GROUP BY 1)
        SELECT r.id AS recording_id, r.source_name, r.staff_id, r.started_at, r.channel,
               coalesce(u.unknown_role_utterances, 0) AS unknown_role_utterances, coalesce(u.utterances, 0) AS utterances,
               coalesce(a.flagged, false) AS roles_flagged, a.method, a.staff_speakers, round(a.confidence, 3) AS role_confidence,
               a.n_speakers, round(a.speaker_count_confidence, 3) AS speaker_count_confidence,
               coalesce(k.scorecards, 0) AS scorecards, k.scores, a.reason, a.speaker_count_reason
        FROM recordings r
        LEFT JOIN u ON u.recording_id = r.id
        LEFT JOIN role_assignment a ON a.recording_id = r.id
        LEFT JOIN cards k ON k.recording_id = r.id
        WHERE coalesce(a.flagged, false) OR coalesce(u.unknown_role_utterances, 0) > 0
        ORDER BY unknown_role_utterances DESC, a.confidence NULLS LAST, r.id
        """,
    ),
    "recorder_sides": Query(
        "Two-channel recordings that were not one person per channel, by site, team and channel: the whole call on one "
        "side (one_sided: diarized instead), the same sound on both (dual_mono), or each side leaking into the other's "
        "channel (leaking: words dropped as the other side's leak). Many at one site or team point at a recorder set up wrong.",
        """
        SELECT r.site, r.team, r.channel, count(*) AS two_channel_recordings,
               count(*) FILTER (WHERE r.layout LIKE 'one-sided%') AS one_sided,
               count(*) FILTER (WHERE r.layout = 'dual-mono') AS dual_mono,
               count(*) FILTER (WHERE coalesce(TRY_CAST(u.decoding ->> 'echo_dropped' AS INTEGER), 0) > 0) AS leaking,
               coalesce(sum(TRY_CAST(u.decoding ->> 'echo_dropped' AS INTEGER)), 0) AS leak_words_dropped,
               list(r.source_name ORDER BY r.source_name) FILTER (WHERE r.layout <> 'stereo'
                   OR coalesce(TRY_CAST(u.decoding ->> 'echo_dropped' AS INTEGER), 0) > 0)[1:5] AS examples
        FROM recordings r LEFT JOIN runs u ON u.run_id = r.run_id
        WHERE r.channels = 2
        GROUP BY ALL
        ORDER BY one_sided + dual_mono + leaking DESC, r.site NULLS LAST, r.team NULLS LAST, r.channel NULLS LAST
        """,
    ),
    "voices_at_once": Query(
        "Where two people talked at once in a mono recording (two speakers' turns overlap for 0.3 s or more), so the "
        "transcript may be missing one of them: who, the roles their words were given, and what the transcript has there.",
        """
        WITH both_ AS ({TWO_VOICES}),
             roles AS (SELECT recording_id, speaker, mode(role) AS role FROM utterances GROUP BY ALL)
        SELECT r.id AS recording_id, r.source_name, r.staff_id, r.channel, round(w.start_s, 2) AS start_s,
               round(w.end_s, 2) AS end_s, round(w.end_s - w.start_s, 2) AS seconds,
               w.speaker_a || ' (' || coalesce(ra.role, 'no words') || ') and ' || w.speaker_b || ' ('
                   || coalesce(rb.role, 'no words') || ')' AS speakers,
               (SELECT string_agg(u.role || ': ' || u.text, ' / ' ORDER BY u.idx) FROM utterances u
                WHERE u.recording_id = w.recording_id AND u.start_s < w.end_s AND u.end_s > w.start_s) AS transcript_there
        FROM both_ w JOIN recordings r ON r.id = w.recording_id
        LEFT JOIN roles ra ON ra.recording_id = w.recording_id AND ra.speaker = w.speaker_a
        LEFT JOIN roles rb ON rb.recording_id = w.recording_id AND rb.speaker = w.speaker_b
        ORDER BY r.id, w.start_s
        """.format(TWO_VOICES=TWO_VOICES),
    ),
    "holds": Query(
        "Recordings in which the customer was put on hold (music, and recorded announcements over it, found by their "
        "sound): how many holds, for how long in all and at longest, and the announcements' words (speaker HOLD, role "
        "unknown: neither person's).",
        """
        WITH held AS (
            SELECT recording_id, count(*) AS holds, round(sum(end_s - start_s), 1) AS hold_s,
                   round(max(end_s - start_s), 1) AS longest_hold_s,
                   string_agg(CAST(round(start_s) AS INTEGER) || '-' || CAST(round(end_s) AS INTEGER) || ' s', ', ' ORDER BY start_s) AS at
            FROM speaker_turns WHERE speaker = 'HOLD' GROUP BY 1),
        said AS (
            SELECT recording_id, string_agg(text, ' / ' ORDER BY idx) AS announcements
            FROM utterances WHERE speaker = 'HOLD' GROUP BY 1)
        SELECT r.id AS recording_id, r.source_name, r.staff_id, r.team, r.channel, r.started_at, h.holds, h.hold_s,
               h.longest_hold_s, h.at, s.announcements
        FROM held h JOIN recordings r ON r.id = h.recording_id LEFT JOIN said s ON s.recording_id = h.recording_id
        ORDER BY h.hold_s DESC, r.id
        """,
    ),
    "recorded_welcomes": Query(
        "Recordings that open with the phone system (a recorded welcome found by its words, the queue's music after it, "
        "or music that opens the recording: speaker SYSTEM, role unknown, neither person's): how long until a person "
        "spoke, the welcome's words, and whether the recording disclosure rests on the welcome alone (staff did not say it).",
        """
        WITH opening AS (
            SELECT recording_id, round(max(end_s), 1) AS person_from_s
            FROM speaker_turns WHERE speaker = 'SYSTEM' GROUP BY 1),
        said AS (
            SELECT recording_id, string_agg(text, ' / ' ORDER BY idx) AS welcome
            FROM utterances WHERE speaker = 'SYSTEM' GROUP BY 1),
        disclosed AS (
            SELECT recording_id, bool_or(passed) AS disclosed,
                   bool_or(passed AND json_extract_string(detail, '$.by') = 'recorded welcome') AS by_welcome_alone
            FROM findings WHERE rule = 'call_recording_disclosure' GROUP BY 1)
        SELECT r.id AS recording_id, r.source_name, r.staff_id, r.team, r.site, r.channel, r.started_at, o.person_from_s,
               s.welcome, d.disclosed, d.by_welcome_alone
        FROM opening o JOIN recordings r ON r.id = o.recording_id
        LEFT JOIN said s ON s.recording_id = o.recording_id LEFT JOIN disclosed d ON d.recording_id = o.recording_id
        ORDER BY o.person_from_s DESC, r.id
        """,
    ),
    "transfers": Query(
        "Calls transferred to a colleague (found by their words: a transfer line, then after a pause or a hold "
        "someone opening as a colleague does; or by the voices, one staff voice handing over to another) and diarized as "
        "two calls with one customer (mono), or the staff channel's voices told apart (stereo): where, whether it was warm (the "
        "first staff member stayed on the line to introduce the customer to the colleague), the staff speakers on each side "
        "of it (the colleague is a speaker of their own), each one's talk time, and whether the roles are flagged.",
        r"""
        WITH handed AS (
            SELECT recording_id, flagged, n_speakers, staff_speakers,
                   CAST(regexp_extract(reason, 'transferred to a colleague at (\d+(?:\.\d+)?) s', 1) AS DOUBLE) AS transferred_at_s,
                   reason LIKE 'transferred to a colleague at % s (%): a warm transfer, %' AS warm
            FROM role_assignment WHERE reason LIKE 'transferred to a colleague at %'),
        talk AS (  -- (the reason gives the time to 0.1 s: a turn that starts at it may start 0.05 s before)
            SELECT u.recording_id,
                   string_agg(DISTINCT u.speaker, ', ' ORDER BY u.speaker) FILTER (WHERE u.role = 'staff' AND u.start_s < h.transferred_at_s - 0.05) AS staff_before,
                   string_agg(DISTINCT u.speaker, ', ' ORDER BY u.speaker) FILTER (WHERE u.role = 'staff' AND u.start_s >= h.transferred_at_s - 0.05) AS staff_after,
                   round(sum(u.end_s - u.start_s) FILTER (WHERE u.role = 'staff' AND u.start_s < h.transferred_at_s - 0.05), 1) AS staff_talk_before_s,
                   round(sum(u.end_s - u.start_s) FILTER (WHERE u.role = 'staff' AND u.start_s >= h.transferred_at_s - 0.05), 1) AS staff_talk_after_s
            FROM utterances u JOIN handed h ON h.recording_id = u.recording_id GROUP BY 1)
        SELECT r.id AS recording_id, r.source_name, r.staff_id, r.team, r.started_at, h.transferred_at_s, h.warm,
               t.staff_before, t.staff_after, t.staff_talk_before_s, t.staff_talk_after_s, h.n_speakers, h.flagged
        FROM handed h JOIN recordings r ON r.id = h.recording_id LEFT JOIN talk t ON t.recording_id = h.recording_id
        ORDER BY r.started_at, r.id
        """,
    ),
    "roles_in_doubt": Query(
        "Interactions with utterances whose role is in doubt (the voice sounds like a speaker of the other side), how much "
        "of the speech that is, and the findings whose evidence lies there (or in the other side's doubted words).",
        """
        WITH doubt AS (
            SELECT recording_id, count(*) FILTER (WHERE role_unsure) AS unsure_utterances,
                   round(coalesce(sum(end_s - start_s) FILTER (WHERE role_unsure), 0), 1) AS unsure_s,
                   round(coalesce(sum(end_s - start_s) FILTER (WHERE role_unsure), 0) / nullif(sum(end_s - start_s), 0), 3) AS unsure_share,
                   list(idx ORDER BY idx) FILTER (WHERE role_unsure) AS unsure_at
            FROM utterances GROUP BY 1),
        hit AS (
            SELECT recording_id, list(rule || CASE WHEN passed THEN ' (passed)' ELSE ' (failed)' END ORDER BY rule) AS findings_in_doubt
            FROM findings WHERE json_exists(detail, '$.role_unsure') OR json_exists(detail, '$.other_side_unsure') GROUP BY 1)
        SELECT r.id AS recording_id, r.source_name, r.staff_id, r.team, r.started_at, d.unsure_utterances, d.unsure_s,
               d.unsure_share, d.unsure_at, h.findings_in_doubt
        FROM doubt d JOIN recordings r ON r.id = d.recording_id LEFT JOIN hit h ON h.recording_id = d.recording_id
        WHERE d.unsure_utterances > 0 OR h.findings_in_doubt IS NOT NULL
        ORDER BY h.findings_in_doubt IS NULL, d.unsure_s DESC, r.id
        """,
    ),
    "failed_rules_by_staff": Query(
        "Per staff member and rule: how often the rule failed.",
        """
        SELECT r.staff_id, f.rule, count(*) AS interactions,
               count(*) FILTER (WHERE NOT f.passed) AS failed,
               round(avg(CASE WHEN f.passed THEN 0 ELSE 1 END), 3) AS fail_rate
        FROM findings f JOIN recordings r ON r.id = f.recording_id
        WHERE f.category IN ('compliance', 'quality', 'conduct')
        GROUP BY ALL
        ORDER BY fail_rate DESC, r.staff_id, f.rule
        """,
    ),
}


def existing_columns(con: Any, table: str) -> set[str]:
    """Names of ``table``'s columns in the main schema (a database written before a migration that
    added some lacks them until Parley next writes to it)."""
    rows = con.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' AND table_name = ?", [table]).fetchall()
    return {r[0] for r in rows}


def run_query(con: Any, name: str) -> pd.DataFrame:
    """Run the named query on a DuckDB connection; an unknown name lists the valid ones."""
    if name not in NAMED_QUERIES:
        raise ConfigError(f"no query named '{name}'", fix=f"use one of: {', '.join(sorted(NAMED_QUERIES))}")
    return con.execute(NAMED_QUERIES[name].sql).df()


FOUND_SQL = """
    WITH t AS (
        SELECT recording_id, kind, role, arg_max(label, coalesce(score, 0)) AS label,
               string_agg(DISTINCT label, ', ' ORDER BY label) AS labels
        FROM tags WHERE utterance_index IS NULL AND kind IN ('touchpoint', 'complaint', 'complaint_topic', 'sentiment')
        GROUP BY ALL
    ),
    cur AS ({current})
    SELECT r.source_name AS recording, tp.label AS touchpoint,
           cp.label || coalesce(' (' || ct.labels || ')', '') AS complaint,
           cs.label AS customer_sentiment, round(max(s.score)) AS score
    FROM recordings r
    LEFT JOIN t tp ON tp.recording_id = r.id AND tp.kind = 'touchpoint'
    LEFT JOIN t cp ON cp.recording_id = r.id AND cp.kind = 'complaint'
    LEFT JOIN t ct ON ct.recording_id = r.id AND ct.kind = 'complaint_topic'
    LEFT JOIN t cs ON cs.recording_id = r.id AND cs.kind = 'sentiment' AND cs.role = 'customer'
    LEFT JOIN (SELECT s.* FROM scorecards s JOIN cur USING (rubric_id, rubric_version)) s ON s.recording_id = r.id
    GROUP BY r.id, r.source_name, r.processed_at, tp.label, cp.label, ct.labels, cs.label
    ORDER BY r.processed_at DESC, r.source_name
    LIMIT {{limit}}
""".format(current=CURRENT_RUBRICS)
"""Per recording (latest first): interaction touchpoint, complaint (with topics), the customer's
overall sentiment and the score under the current rubric version (`make run` ends with it)."""

NAMED_QUERIES["found"] = Query(
    "What Parley found per recording: touchpoint, complaint and topics, customer sentiment, score (latest 100)",
    FOUND_SQL.format(limit=100),
)
