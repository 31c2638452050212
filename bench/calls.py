"""Synthesise contact-centre calls with known scripts, to measure Parley end to end.

Every call has a staff member, who speaks scripted lines (a greeting with the company and their
name, the recording disclosure, an identity check, an answer, a resolution, further help and a
closing, each drawn from several wordings), and a customer whose words come from real data: a
consumer complaint (``cfpb-complaints``, read calmly, as most complaints are) or a plain request
(``banking77``, ``bitext``), now and then with small talk that is negative but no complaint
("the weather's been awful"). espeak-ng speaks them with a pair of voices (some pairs of the
same sex); the call is written stereo (staff left) or mono, at 8 kHz telephone band (G.711
mu-law WAV) or 16 kHz.

For each call NAME it writes NAME.wav (or another format), NAME.json (the sidecar metadata Parley
reads), NAME.stm (the words of every turn: the transcript truth), NAME.rttm (who spoke when, the
speakers named ``staff`` and ``customer``) and NAME.truth.json (the labels: complaint or not, the
source row, which script lines were said, the voices), plus ``manifest.csv`` for the folder.

Development and held-out data never mix. Every source row and voice belongs to one split,
decided once by a hash (``held_out``), and every third staff wording is held out: ``--split test`` calls use only held-out rows,
voices and wordings, ``--split dev`` only the others. Models Parley ships are trained on
development rows only (see ``held_out`` and ``models/README.md``).

    python bench/calls.py OUT --n 40 --split test --layout stereo --rate 8000
    python bench/calls.py OUT --n 40 --split test --layout mono --rate 8000 --kind complaint,request
    python bench/calls.py OUT --n 40 --split test --same-staff
    python bench/calls.py OUT --n 40 --split test --layout mono --rate 16000 --seed 21 --no-channel
    python bench/calls.py OUT --n 40 --split test --layout mono --rate 16000 --seed 30 --companion

By default the staff answer a complaint as a complaint (an apology, a complaint logged) and the
customer opens with "a problem"; ``--same-staff`` says the same staff lines and opening in both
kinds, so that only the customer's own words tell them apart. ``--companion`` makes three-person
face-to-face conversations: a second customer beside the first (a couple at a branch), whose
turns the RTTM names ``customer`` too, so that roles are scored as for two.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.synth import Turn, Voice, synthesize  # noqa: E402

SHARED_TEXT = ROOT.parent / "shared" / "data" / "text"
HELD_OUT_SHARE = 4
"""One key in this many is held out (25%)."""


def held_out(key: str) -> bool:
    """True when ``key`` (``dataset:row`` for a source row, ``voice:NAME``, ``line:TEXT``) is in
    the held-out split. Fixed forever: changing it would leak measured rows into training."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % HELD_OUT_SHARE == 0


# ---- what the customer says -------------------------------------------------------------------

BANKING77_REQUESTS = {
    "activate_my_card", "age_limit", "apple_pay_or_google_pay", "atm_support", "automatic_top_up",
    "card_about_to_expire", "card_acceptance", "card_delivery_estimate", "card_linking", "change_pin",
    "country_support", "disposable_card_limits", "edit_personal_details", "exchange_rate",
    "exchange_via_app", "fiat_currency_support", "get_disposable_virtual_card", "get_physical_card",
    "getting_spare_card", "getting_virtual_card", "order_physical_card", "passcode_forgotten",
    "receiving_money", "supported_cards_and_currencies", "top_up_by_cash_or_cheque", "top_up_limits",
    "topping_up_by_card", "transfer_into_account", "transfer_timing", "verify_my_identity",
    "verify_source_of_funds", "visa_or_mastercard", "why_verify_identity", "lost_or_stolen_phone",
}
"""banking77 intents that are plain requests: no dissatisfaction, no loss alleged. Intents such as
``card_swallowed``, ``transaction_charged_twice`` or ``wrong_amount_of_cash_received`` allege a
loss and are left out of the requests."""

BITEXT_REQUESTS = {
    "cancel_order", "change_order", "change_shipping_address", "check_cancellation_fee", "check_invoice",
    "check_payment_methods", "check_refund_policy", "contact_customer_service", "create_account",
    "delete_account", "delivery_options", "delivery_period", "edit_account", "get_invoice",
    "newsletter_subscription", "place_order", "recover_password", "set_up_shipping_address",
    "switch_account", "track_order",
}
"""Bitext intents that are plain requests (``complaint``, ``payment_issue``, ``registration_problems``,
``get_refund``, ``track_refund`` and ``review`` are left out)."""

SMALL_TALK = [
    "Sorry, bear with me, the weather's been awful here all week.",
    "Honestly it's been a long day, the traffic was terrible this morning.",
    "Excuse the noise, my dog is being a nightmare today.",
    "I'm so tired, I hardly slept last night with the storm.",
    "Sorry, my coffee's gone cold and it's freezing in here.",
]
"""Negative remarks that allege no loss or inconvenience caused by the firm: not complaints."""


@dataclass(frozen=True)
class CustomerText:
    kind: str  # complaint | request
    source: str  # dataset:row
    text: str
    label: str  # product / intent
    detail: str = ""  # issue


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", " ".join(text.split())) if s.strip()]


def _spoken(text: str) -> str:
    """A written complaint made speakable: amounts ``{$400.00}`` -> ``$400``, no blanks."""
    text = re.sub(r"\{\$([\d,]+)(?:\.00)?\}", r"$\1", text)
    text = re.sub(r"\{\$([\d,]+\.\d\d)\}", r"$\1", text)
    return text.replace("{", "").replace("}", "")


def complaint_excerpt(narrative: str, min_words: int = 18, max_words: int = 55) -> str | None:
    """The first run of sentences without redaction marks (XXXX) that makes 18-55 words."""
    picked: list[str] = []
    for sentence in _sentences(narrative):
        if "XX" in sentence or len(sentence.split()) > max_words:
            if picked:
                break
            continue
        picked.append(_spoken(sentence))
        if sum(len(s.split()) for s in picked) >= min_words:
            break
    words = sum(len(s.split()) for s in picked)
    return " ".join(picked) if min_words <= words <= max_words else None


def load_customer_texts(split: str) -> dict[str, list[CustomerText]]:
    """Complaints and requests of one split, from the shared data sets."""
    want_test = split == "test"
    out: dict[str, list[CustomerText]] = {"complaint": [], "request": []}
    with open(SHARED_TEXT / "cfpb-complaints" / "complaints.csv", newline="") as f:
        for row in csv.DictReader(f):
            key = f"cfpb:{row['complaint_id']}"
            text = complaint_excerpt(row["narrative"])
            if text and held_out(key) == want_test:
                out["complaint"].append(CustomerText("complaint", key, text, row["product"], row["issue"]))
    with open(SHARED_TEXT / "banking77" / "train.csv", newline="") as f:
        for i, row in enumerate(csv.DictReader(f)):
            key = f"banking77:{i}"
            if row["category"] in BANKING77_REQUESTS and held_out(key) == want_test and len(row["text"].split()) >= 6:
                out["request"].append(CustomerText("request", key, row["text"].strip(), row["category"]))
    with open(SHARED_TEXT / "bitext" / "bitext_official_early_sample.csv", newline="") as f:
        for i, row in enumerate(csv.DictReader(f)):
            key = f"bitext:{i}"
            text = row["instruction"].strip()
            if row["intent"] in BITEXT_REQUESTS and held_out(key) == want_test and len(text.split()) >= 6 and not re.search(r"\d{5,}|\{\{", text):
                out["request"].append(CustomerText("request", key, text[0].upper() + text[1:], row["intent"]))
    return out


# ---- what the staff member says ---------------------------------------------------------------

COMPANIES = [
    ("Northfield Energy", "energy"), ("Castlegate Bank", "bank"), ("Brightwater Telecom", "telecom"),
    ("Harbour Mutual", "insurance"), ("Kestrel Credit Union", "bank"), ("Ashgrove Water", "utility"),
]
STAFF_NAMES = ["Nadeen", "Priya", "Tomasz", "Gareth", "Aisha", "Callum", "Megan", "Oluwaseun", "Rhys", "Siobhan", "Declan", "Farah"]
CUSTOMER_NAMES = [
    "Margaret Ellison", "David Okafor", "Sarah Whitfield", "James Kowalski", "Helen Tran", "Robert Fairbairn",
    "Emily Harcourt", "Daniel Mensah", "Grace Lindqvist", "Peter Ramsay", "Chloe Baptiste", "Martin Doyle",
]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]

LINES: dict[str, list[str]] = {
    "greeting": [
        "Good morning, thank you for calling {company}, my name is {staff}.",
        "Hello, you're through to {company}, {staff} speaking.",
        "Good afternoon, {company} customer service, this is {staff}.",
        "Hi there, thanks for calling {company}. You're speaking with {staff}.",
        "Good morning, welcome to {company}, {staff} here.",
        "Hello and thank you for calling {company}, I'm {staff}.",
    ],
    "disclosure": [
        "Before we start, this call may be recorded for quality and training purposes.",
        "Just so you know, this call is being recorded for training and monitoring.",
        "Please note that calls are recorded for quality purposes.",
        "I need to let you know this call may be recorded.",
        "This call will be recorded for training and quality.",
        "Just to let you know, our calls are recorded to help us improve our service.",
        "Please be aware that this conversation is being recorded.",
        "Calls to {company} are recorded for training purposes.",
    ],
    "no_disclosure": [
        "How are you today?",
        "Lovely to speak to you today.",
        "I hope you're keeping well.",
    ],
    "ask": [
        "How can I help you today?",
        "What can I do for you?",
        "How can I help?",
        "What can I help you with today?",
    ],
    "identity": [
        "Can I take your full name and date of birth, please?",
        "For security, could you confirm your full name and date of birth?",
        "Before I look at the account, can you confirm your date of birth and postcode?",
        "I just need to verify your identity. What's your full name and date of birth?",
    ],
    "thanks_id": ["Thank you, that's all confirmed.", "Thanks, I've found your account.", "Lovely, thank you, that's you verified."],
    "empathy": [
        "I'm really sorry to hear that, let me look into it for you.",
        "I'm sorry about that, I understand how frustrating that must be.",
        "I do apologise for the trouble this has caused you.",
        "I'm sorry you've had to deal with this. Let me see what I can do.",
    ],
    "answer": [
        "Certainly, I can help with that.",
        "Of course, let me check that for you.",
        "No problem at all, I can sort that out for you.",
        "Sure, that's something I can help with.",
    ],
    "action_complaint": [
        "I've logged this as a complaint and passed it to the team, and you'll hear back within five working days. Your reference is {ref}.",
        "I've raised this with our investigations team under reference {ref}, and they'll write to you within eight weeks at the latest.",
        "I've opened a case for you, reference {ref}, and a specialist will call you back by {day}.",
    ],
    "action_request": [
        "That's all done for you now, and you'll get a confirmation by email shortly.",
        "I've updated that on your account, and the change will show within two working days.",
        "I've sent the details to your email address, and the reference is {ref}.",
    ],
    "resolution_check": ["Does that help?", "Is that okay for you?", "Does that answer your question?", "Is that alright for you?"],
    "further_help": [
        "Is there anything else I can help you with today?",
        "Is there anything else I can do for you?",
        "Can I help with anything else today?",
        "Was there anything else you needed?",
    ],
    "no_further_help": ["Right, I'll make a note of that on the account.", "Okay, I'll add that to your notes now."],
    "closing": [
        "Thank you for calling {company}, goodbye.",
        "Thanks for calling, have a lovely day. Goodbye.",
        "Thank you for your call today, goodbye.",
        "Thanks for calling {company}, have a good day.",
    ],
    "no_closing": ["Okay then.", "Right you are."],
    "probe": [
        "When did you first notice this?",
        "And have you been in touch with us about it before?",
        "Can you tell me a little more about what happened?",
        "Which account is this on, the current account or the savings?",
        "Do you have the date of the payment to hand?",
        "And did you get a letter or an email from us about it?",
    ],
    "check": [
        "Bear with me one moment while I check that.",
        "Let me just pull that up on the system.",
        "Okay, I'm just looking at that now.",
    ],
    "explain": [
        "Right, I can see the payment on the account here, it went out on the third.",
        "So what's happened is the payment was taken twice, once on each card.",
        "I can see a note from last week, but it looks like nobody followed it up.",
        "Okay, so the system has put a hold on the account while it checks the transfer.",
        "That charge is the monthly fee for the account, which started last month.",
        "I can see the letter came back to us, so the address we hold may be out of date.",
    ],
    "reply": [
        "It should be sorted within three to five working days.",
        "Yes, any money taken in error will go back to your account.",
        "You don't need to do anything for now, we'll be in touch.",
        "I'm sorry, that should have been in the letter we sent you.",
        "Of course, I'll send you an email with all the details today.",
        "Once it's approved you'll see it on your statement.",
    ],
}
"""Staff wordings. ``no_*`` lines stand where a call leaves a scored line out: they say nothing
a rule looks for."""

CUSTOMER_LINES: dict[str, list[str]] = {
    "identity": [
        "It's {customer}, born on the {dob_day} of {dob_month} nineteen {dob_year}.",
        "Yes, {customer}, {dob_day} of {dob_month} nineteen {dob_year}.",
        "My name is {customer} and my date of birth is the {dob_day} of {dob_month} nineteen {dob_year}.",
    ],
    "opening_complaint": ["I'm calling because of a problem with my account.", "I want to raise something that's gone wrong.", "I'm ringing about an issue I've had."],
    "opening_request": ["I've got a quick question.", "I was hoping you could help me with something.", "I just need some help with my account."],
    "accept": ["Okay, thank you.", "Yes, that's fine, thanks.", "Alright, thank you for your help.", "That's great, thanks."],
    "not_accept": ["I'm not happy with that, I want this escalated to a manager.", "That's not good enough, I'd like to speak to your supervisor."],
    "no_more": ["No, that's everything, thank you.", "No, that's all for now.", "No thanks, that's it."],
    "bye": ["Bye.", "Thanks, bye.", "Goodbye."],
    "answer": [
        "About two weeks ago, I think.",
        "Yes, I rang last week but nobody called me back.",
        "No, this is the first time I've called.",
        "It's the current account.",
        "Yes, I've got the letter here in front of me.",
        "I'm not sure, let me have a look.",
    ],
    "backchannel": ["Okay.", "Right.", "I see.", "Mm, okay.", "Yes.", "Oh, right."],
    "ask_back": [
        "How long will that take to sort out?",
        "Will I get the money back?",
        "Is there anything I need to do in the meantime?",
        "Why wasn't I told about this before?",
        "Can you put that in writing for me?",
        "So what happens now?",
    ],
}

ORDINALS = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth", "eleventh", "twelfth",
            "fourteenth", "fifteenth", "twentieth", "twenty first", "twenty third", "twenty eighth"]
YEARS = ["sixty two", "seventy four", "eighty one", "eighty eight", "ninety", "ninety five", "seventy", "sixty eight"]


# ---- voices -----------------------------------------------------------------------------------

VOICES = [
    ("en-gb+m3", "m", 40, 155), ("en-us+f4", "f", 70, 165), ("en-gb+f3", "f", 60, 160), ("en-us+m1", "m", 45, 160),
    ("en-gb-scotland+m2", "m", 50, 150), ("en-gb-x-rp+f2", "f", 65, 155), ("en-us+m7", "m", 35, 170), ("en-029+f1", "f", 55, 150),
    ("en-gb-x-gbclan+m4", "m", 50, 160), ("en-us-nyc+f5", "f", 60, 170), ("en-gb+m6", "m", 30, 145), ("en-us+f2", "f", 75, 160),
    ("en-gb-x-rp+m5", "m", 45, 155), ("en-gb-scotland+f4", "f", 65, 150), ("en-us+m2", "m", 55, 165), ("en-gb+f5", "f", 50, 165),
    ("en-gb-x-gbcwmd+m1", "m", 40, 160), ("en-us+f3", "f", 65, 155), ("en-029+m3", "m", 45, 150), ("en-gb+f1", "f", 70, 160),
]
"""espeak-ng voices (voice+variant, sex, pitch, words per minute), split by ``held_out``."""


def voices_of(split: str) -> list[tuple[str, str, int, int]]:
    chosen = [v for v in VOICES if held_out(f"voice:{v[0]}") == (split == "test")]
    if len({v[1] for v in chosen}) < 2:  # the hash gave one split a single sex: both keep all voices
        return VOICES
    return chosen


def voices_for(tts: str, split: str) -> tuple[list[tuple[str, str, int, int]], Callable | None]:
    """The voices of ``split`` and what speaks them (``synthesize``'s ``speaker``): espeak-ng's
    (None: ``synth.speak``), or for ``tts`` "neural" every one of ``bench/neural_voices.py``'s."""
    if tts != "neural":
        return voices_of(split), None
    import neural_voices

    return neural_voices.NEURAL_VOICES, neural_voices.speak


def lines_of(split: str) -> dict[str, list[str]]:
    """The staff wordings of a split: every third wording (the 2nd, 5th, ...) of each kind is
    held out, so the test calls use phrasings the rules were not written against."""
    return {kind: wordings_of(options, split) for kind, options in LINES.items()}


def wordings_of(options: list[str], split: str) -> list[str]:
    """The wordings of one kind that belong to ``split``: every third (the 2nd, 5th, ...) is
    held out; a kind with one wording keeps it in both."""
    return [o for i, o in enumerate(options) if (i % 3 == 1) == (split == "test")] or options


# ---- one call ---------------------------------------------------------------------------------


@dataclass
class CallTruth:
    name: str
    split: str
    kind: str  # complaint | request
    source: str
    label: str
    detail: str
    layout: str
    sample_rate: int
    company: str
    staff_voice: str
    customer_voice: str
    same_sex: bool
    said: dict[str, bool] = field(default_factory=dict)
    """Which scored staff lines were said: disclosure, identity, empathy, further_help, closing."""
    companion_voice: str = ""
    """A second customer at the staff member's desk (``--companion``: a couple at a branch), whose
    turns the RTTM names ``customer`` too (roles are scored); empty for two people. With
    ``--transfer``: the colleague the call is transferred to, named ``staff`` in the RTTM."""
    transfer_s: float | None = None
    """``--transfer``: where the call goes on after it is put through (seconds): the colleague's
    first turn (cold), the staff member's introduction of the customer to them (warm)."""
    transfer: str = ""
    """``--transfer``: cold or warm."""
    escalation_requested: bool = False
    resolved_on_call: bool = True
    small_talk: bool = False
    duration_s: float = 0.0


def call_turns(rng: random.Random, customer: CustomerText, split: str, *, drop_share: float = 0.2, same_staff: bool = False,
               middle: int = 0, more_text: str = "") -> tuple[list[Turn], dict, dict, dict]:
    """The turns of one call, what was said, other truths and the values the lines were filled with (``drop_share``: chance of leaving out each of
    disclosure, further help and closing). ``same_staff``: the staff lines and the customer's
    opening are drawn from the same wordings whatever the customer says (no apology, no complaint
    logged, no "something's gone wrong"), so only the customer's own words tell a complaint from a
    request, as in issue 16's trial; no escalation. ``middle``: that many more exchanges after
    the customer's story (``middle_turns``: questions both ways, answers, checks, short
    acknowledgements such as "Okay."), for calls as long as real ones; ``more_text``: the customer's
    further sentences for them. With ``middle`` 0 the call is as before, to the random draw."""
    lines = lines_of(split)
    company, _sector = rng.choice(COMPANIES)
    values = {
        "company": company, "staff": rng.choice(STAFF_NAMES), "customer": rng.choice(CUSTOMER_NAMES),
        "dob_day": rng.choice(ORDINALS), "dob_month": rng.choice(MONTHS), "dob_year": rng.choice(YEARS),
        "ref": " ".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(2)) + " " + " ".join(str(rng.randint(0, 9)) for _ in range(4)),
        "day": rng.choice(["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]),
    }
    said = {k: rng.random() >= drop_share for k in ("disclosure", "further_help", "closing")}
    said["identity"] = True
    said["empathy"] = customer.kind == "complaint" and not same_staff
    complaint = customer.kind == "complaint"
    scripted = complaint and not same_staff
    """the staff answer a complaint as a complaint"""
    escalate = scripted and rng.random() < 0.25
    small_talk = rng.random() < 0.3

    def staff(kind: str) -> Turn:
        return Turn("staff", rng.choice(lines[kind]).format(**values))

    def cust(kind: str) -> Turn:
        return Turn("customer", rng.choice(CUSTOMER_LINES[kind]).format(**values))

    turns = [staff("greeting"), staff("disclosure" if said["disclosure"] else "no_disclosure"), staff("ask")]
    turns[1] = Turn("staff", turns[1].text, gap_s=0.25)
    turns[2] = Turn("staff", turns[2].text, gap_s=0.3)
    turns.append(cust("opening_complaint" if scripted else "opening_request"))
    turns += [staff("identity"), cust("identity"), staff("thanks_id")]
    if small_talk:
        turns.append(Turn("customer", rng.choice(SMALL_TALK)))
    sentences = _sentences(customer.text)
    half = max(1, len(sentences) // 2) if len(sentences) > 2 else len(sentences)
    turns.append(Turn("customer", " ".join(sentences[:half])))
    if sentences[half:]:
        turns.append(staff("answer") if not scripted else Turn("staff", "I see. Go on."))
        turns.append(Turn("customer", " ".join(sentences[half:])))
    if middle:
        turns += middle_turns(rng, middle, split, _sentences(more_text), values)
    story_end = len(turns) - 1
    turns.append(staff("empathy" if scripted else "answer"))
    turns.append(staff("action_complaint" if scripted else "action_request"))
    turns.append(staff("resolution_check"))
    turns.append(cust("not_accept") if escalate else cust("accept"))
    if escalate:
        turns.append(Turn("staff", "I understand. I'll pass this to my team leader, who will call you back today."))
        turns.append(cust("accept"))
    turns.append(staff("further_help" if said["further_help"] else "no_further_help"))
    turns.append(cust("no_more"))
    turns.append(staff("closing" if said["closing"] else "no_closing"))
    turns.append(cust("bye"))
    extra = {"escalation_requested": escalate, "resolved_on_call": not escalate and not scripted, "small_talk": small_talk, "company": company,
             "story_end": story_end}
    return turns, said, extra, values


def middle_turns(rng: random.Random, n: int, split: str, more: list[str], values: dict) -> list[Turn]:
    """``n`` exchanges of the middle of a long call. Each is one of: the staff member asks, the
    customer answers (a short answer, or the next of their ``more`` sentences), the staff member
    may check, then explains, and the customer may acknowledge it ("Okay.", "Right."); or the
    customer asks, the staff member replies and the customer may acknowledge it. So the customer
    asks questions too, and many turns are a second or two long, as in real calls. The staff
    member's and the customer's wordings are split as ``lines_of``'s."""
    lines = lines_of(split)
    customer_lines = {kind: wordings_of(CUSTOMER_LINES[kind], split) for kind in ("answer", "backchannel", "ask_back")}
    more = list(more)
    turns: list[Turn] = []

    def staff(kind: str) -> Turn:
        return Turn("staff", rng.choice(lines[kind]).format(**values))

    def cust(kind: str) -> Turn:
        return Turn("customer", rng.choice(customer_lines[kind]).format(**values))

    for _ in range(n):
        if rng.random() < 0.65:
            turns.append(staff("probe"))
            if more and rng.random() < 0.5:
                take = 1 + (rng.random() < 0.4)
                turns.append(Turn("customer", " ".join(more[:take])))
                del more[:take]
            else:
                turns.append(cust("answer"))
            if rng.random() < 0.4:
                turns.append(staff("check"))
            turns.append(staff("explain"))
        else:
            turns.append(cust("ask_back"))
            turns.append(staff("reply"))
        if rng.random() < 0.6:
            turns.append(cust("backchannel"))
    return turns


COMPANION_LINES = [
    "It's a joint account, it's in both our names.",
    "Yes, we've both been trying to sort this out for weeks.",
    "That's right, I was with them when it happened.",
]


def with_companion(rng: random.Random, turns: list[Turn]) -> list[Turn]:
    """The same conversation with a second customer beside the first (role ``companion``): a line
    of their own after the customer's identity answer, and the customer's later turns (the
    second half of their account, small talk, goodbye) in the companion's voice."""
    out, answered = [], False
    customer = [i for i, t in enumerate(turns) if t.role == "customer"]
    later = set(customer[3:][::2]) | {customer[-1]}  # every other customer turn after the first three, and the goodbye
    for i, t in enumerate(turns):
        out.append(Turn("companion", t.text, t.gap_s) if i in later else t)
        if t.role == "customer" and not answered and i == customer[1]:
            out.append(Turn("companion", rng.choice(COMPANION_LINES)))
            answered = True
    return out


TEAMS = ["billing", "accounts", "complaints", "payments", "specialist support"]
TRANSFER_LINES = [
    "I'm going to transfer you to our {team} team, they'll be able to help with that. Please hold the line.",
    "Our {team} team look after that, so I'm putting you through to them now. Please stay on the line.",
    "Let me pass you over to someone in {team} who can sort this out. I'll transfer you now.",
    "That needs our {team} team, so I'll put you through to a colleague now. Bear with me one moment.",
    "I'll get you over to a specialist in {team}, they can help. Just a moment while I transfer you.",
    "I'll hand you over to {team}, they deal with this. Please hold.",
]
"""What the staff member says before a transfer (``--transfer``); every third (the 2nd, 5th) held
out, as for ``LINES``."""
COLLEAGUE_LINES = [
    "Hello, you're through to {colleague} in the {team} team. I understand you've been speaking to {staff}, how can I help?",
    "Hello there, it's {colleague} here. {staff} has told me what's happened, so let's get this sorted.",
    "Good morning, {colleague} speaking, {team} team. I've got your account up in front of me.",
    "Hi, this is {colleague} from {team}. My colleague has passed me your details, let me take a look.",
    "Hi, {colleague} from {team} here, thanks for bearing with us. What can I do for you?",
    "Thanks for holding, my name is {colleague} and I work in {team}. I can see the notes from {staff}.",
]
"""How the colleague opens after a transfer; split as ``TRANSFER_LINES``. (Seed 61, on which
``pipeline.transfers`` was written, was made with the first three of each list when they held
only those: the 1st, 4th and 3rd now, all development wordings.)"""


WARM_LINES = [
    "I'm going to bring in a colleague from our {team} team. I'll stay on the line and introduce you, so please hold for a moment.",
    "Let me see if someone in {team} can join us. I'll stay with you while I put you through, one moment please.",
    "I'll transfer you to our {team} team, but I'll stay on the line to explain everything first. Please hold.",
    "I'm going to get a colleague in {team} on the line for you, and I'll introduce you. Bear with me.",
    "I'll put you through to {team} and stay on while I pass on the details. Please hold the line.",
    "Let me connect you with a colleague in {team}. I'll stay on the line until they've picked up. One moment.",
]
"""``--transfer warm``: what the staff member says before a warm transfer (they stay on the line
to introduce the customer); split as ``TRANSFER_LINES``."""
HANDOVER_LINES = [
    "Hi {colleague}, it's {staff} here. I've got {customer} on the line, who's been telling me about a problem that needs your team.",
    "Thanks for holding. I've got {colleague} from {team} with us now. {colleague}, {customer} is calling about an issue with their account.",
    "Hello {colleague}, I have {customer} with me. I've gone through security already, and it's one for {team}.",
    "Right, I've got {colleague} on the line now. {colleague}, this is {customer}, they need some help from {team}.",
    "Hi {colleague}, thanks for taking this. {customer} has been waiting a little while, and I've put some notes on the account.",
    "Thanks for waiting. {colleague}, I have {customer} here, and I've explained that you'll be able to help.",
]
"""``--transfer warm``: the first staff member back on the line, introducing the customer to the colleague."""
WARM_COLLEAGUE_LINES = [
    "Thanks {staff}. Hello {customer}, I'm {colleague} from {team}, I'll take it from here.",
    "Lovely, thank you {staff}. Hi {customer}, let's get this sorted out for you.",
    "That's great, thanks {staff}, I can see the notes. Hello {customer}, how are you today?",
    "Thank you {staff}. Good morning {customer}, {colleague} here, I'm sorry you've had to wait.",
    "Thanks for that {staff}. Hi {customer}, I'll be looking after you from now on.",
    "Perfect, thanks {staff}. Hello {customer}, I've got everything I need to help.",
]
"""``--transfer warm``: the colleague's answer to the introduction."""
LEAVE_LINES = [
    "Thanks {colleague}. I'll leave you in good hands, {customer}. Goodbye.",
    "Great. I'll hand over to {colleague} now. Take care, {customer}.",
    "Thank you both, I'll drop off the call now. Bye for now.",
    "Brilliant, I'll let you carry on. Thanks for your patience, {customer}.",
    "Thanks, I'll leave you to it. All the best, {customer}.",
    "OK, I'll leave the call now. Have a good day.",
]
"""``--transfer warm``: the first staff member leaving the call."""
THANKS_LINES = ["Thank you.", "Thanks, bye.", "Thanks for your help.", "OK, thank you very much."]


def with_transfer(rng: random.Random, turns: list[Turn], values: dict, after: int, split: str = "dev",
                  warm: bool = False) -> tuple[list[Turn], int]:
    """The same call transferred to a colleague (role ``colleague``, another staff voice) once the
    customer has told their story (turn ``after``): the staff member says they will transfer the call, and from
    there on every staff line is the colleague's. A cold transfer (as when a first-line agent
    hands a call to a specialist team): the colleague opens with a greeting of their own. ``warm``:
    the staff member says they will stay on the line, comes back after the pause, introduces the
    customer to the colleague, who answers, and leaves (the customer sometimes thanks them)
    before the colleague carries on. Returns the turns and the index of the first turn after the
    pause (the colleague's opening; the staff member's introduction when warm: ``bench/hold.py``
    puts its hold before it)."""
    values = {**values, "team": rng.choice(TEAMS), "colleague": rng.choice([n for n in STAFF_NAMES if n != values["staff"]])}
    if not warm:
        out = turns[: after + 1] + [Turn("staff", rng.choice(wordings_of(TRANSFER_LINES, split)).format(**values)),
                                     Turn("colleague", rng.choice(wordings_of(COLLEAGUE_LINES, split)).format(**values), gap_s=2.0)]
        first = len(out) - 1
    else:
        out = turns[: after + 1] + [Turn("staff", rng.choice(wordings_of(WARM_LINES, split)).format(**values))]
        first = len(out)
        out += [Turn("staff", rng.choice(wordings_of(HANDOVER_LINES, split)).format(**values), gap_s=2.0),
                Turn("colleague", rng.choice(wordings_of(WARM_COLLEAGUE_LINES, split)).format(**values)),
                Turn("staff", rng.choice(wordings_of(LEAVE_LINES, split)).format(**values))]
        if rng.random() < 0.5:
            out.append(Turn("customer", rng.choice(THANKS_LINES)))
    out += [Turn("colleague", t.text, t.gap_s) if t.role == "staff" else t for t in turns[after + 1 :]]
    return out, first


def make_calls(
    out: Path,
    n: int,
    *,
    split: str = "test",
    layout: str = "stereo",
    rate: int = 8000,
    kinds: tuple[str, ...] = ("complaint", "request"),
    seed: int = 0,
    suffix: str = ".wav",
    drop_share: float = 0.2,
    prefix: str = "call",
    same_staff: bool = False,
    channel: bool = True,
    companion: bool = False,
    transfer: str = "",
    customer_db: float = 0.0,
    customer_reverb_s: float = 0.0,
    face_to_face: bool = False,
    tts: str = "espeak",
    middle: int = 0,
) -> list[CallTruth]:
    """Write ``n`` calls into ``out`` (kinds alternate) and return their truth. ``channel``:
    False leaves ``channel`` out of the sidecars (nothing in the metadata says it is a call).
    ``companion``: three people, a second customer beside the first (``with_companion``), each
    a face-to-face conversation (the sidecars say so). ``transfer``: "cold" or "warm", the call is
    transferred to a colleague halfway (``with_transfer``); the RTTM names both staff voices ``staff``.
    ``customer_db``: the customer's level against the staff member's (a quieter phone line: -10);
    ``customer_reverb_s``: the customer heard from across a room with that reverberation time
    (``synth.room_echo``). ``face_to_face``: the sidecars say ``channel: face-to-face`` (two people
    at a desk). ``tts``: "espeak" (espeak-ng's voices) or "neural" (``bench/neural_voices.py``: Kokoro's and
    Piper's, none of them heard while the speaker code was built). ``middle``: that many more
    exchanges after the customer's story (``middle_turns``), the customer's further sentences from
    the next text of the same kind. The same seed makes the same calls at
    any level, echo and channel."""
    rng = random.Random(f"{seed}:{split}:{layout}:{rate}")
    texts = load_customer_texts(split)
    for pool in texts.values():
        rng.shuffle(pool)
    voices, speaker = voices_for(tts, split)
    out.mkdir(parents=True, exist_ok=True)
    truths = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        customer = texts[kind][i // len(kinds) % len(texts[kind])]
        staff_voice, customer_voice = rng.sample(voices, 2)
        if i % 4 == 3:  # every fourth call: two voices of the same sex
            same = [v for v in voices if v[1] == staff_voice[1] and v != staff_voice]
            customer_voice = rng.choice(same) if same else customer_voice
        pool = texts[kind]
        more_text = pool[(i // len(kinds) + 1) % len(pool)].text if middle else ""
        turns, said, extra, values = call_turns(rng, customer, split, drop_share=drop_share, same_staff=same_staff,
                                                middle=middle, more_text=more_text)
        name = f"{prefix}-{split}-{layout}-{rate // 1000}k-{i:03d}"
        path = out / f"{name}{suffix}"
        vmap = {"staff": Voice(staff_voice[0], staff_voice[3], staff_voice[2]), "customer": Voice(customer_voice[0], customer_voice[3], customer_voice[2], customer_db, customer_reverb_s)}
        third = ""
        if companion:
            other = rng.choice([v for v in voices if v not in (staff_voice, customer_voice)])
            vmap["companion"], third = Voice(other[0], other[3], other[2]), other[0]
            turns = with_companion(rng, turns)
        transfer_at = None
        if transfer:
            other = rng.choice([v for v in voices if v not in (staff_voice, customer_voice)])
            vmap["colleague"], third = Voice(other[0], other[3], other[2]), other[0]
            turns, transfer_at = with_transfer(rng, turns, values, extra["story_end"], split, warm=transfer == "warm")
        script = synthesize(turns, path, stereo=layout == "stereo", sample_rate=rate, voices=vmap, telephone=rate == 8000,
                            seed=rng.randint(0, 10**6), speaker=speaker)
        (out / f"{name}.stm").write_text(script.to_stm(name))
        (out / f"{name}.rttm").write_text(script.to_rttm(name).replace(" companion ", " customer ").replace(" colleague ", " staff "))
        meta = {"staff_id": f"S{1000 + rng.randint(0, 49)}", "team": rng.choice(["billing", "service", "collections"]),
                "site": rng.choice(["leeds", "york", "cardiff"]), "channel": "face-to-face" if companion or face_to_face else "phone",
                "direction": "inbound",
                "started_at": f"2026-10-{1 + i % 28:02d}T{9 + i % 8:02d}:{(7 * i) % 60:02d}:00"}
        if not channel:
            del meta["channel"]
        (out / f"{name}.json").write_text(json.dumps(meta, indent=1) + "\n")
        truth = CallTruth(
            name=name, split=split, kind=kind, source=customer.source, label=customer.label, detail=customer.detail, layout=layout,
            sample_rate=rate, company=extra["company"], staff_voice=staff_voice[0], customer_voice=customer_voice[0], companion_voice=third,
            same_sex=staff_voice[1] == customer_voice[1], said=said, escalation_requested=extra["escalation_requested"],
            resolved_on_call=extra["resolved_on_call"], small_talk=extra["small_talk"], duration_s=round(script.duration_s, 2),
            transfer_s=script.turns[transfer_at].start if transfer_at is not None else None, transfer=transfer,
        )
        (out / f"{name}.truth.json").write_text(json.dumps(asdict(truth), indent=1) + "\n")
        truths.append(truth)
        print(f"{path.name}: {truth.kind}, {truth.duration_s:.0f} s, {truth.staff_voice} / {truth.customer_voice}", file=sys.stderr)
    _write_manifest(out)
    return truths


def _write_manifest(out: Path) -> None:
    rows = [json.loads(p.read_text()) for p in sorted(out.glob("*.truth.json"))]
    if not rows:
        return
    with open(out / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[k for k in rows[0] if k != "said"] + [f"said_{k}" for k in rows[0]["said"]])
        writer.writeheader()
        for row in rows:
            said = row.pop("said")
            writer.writerow({**row, **{f"said_{k}": v for k, v in said.items()}})


def read_truth(folder: Path) -> dict[str, dict]:
    """NAME -> truth dict for every call in ``folder``."""
    return {p.name[: -len(".truth.json")]: json.loads(p.read_text()) for p in sorted(Path(folder).glob("*.truth.json"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--split", choices=["dev", "test"], default="test")
    parser.add_argument("--layout", choices=["stereo", "mono"], default="stereo")
    parser.add_argument("--rate", type=int, choices=[8000, 16000], default=8000)
    parser.add_argument("--kind", default="complaint,request", help="kinds that alternate: complaint,request")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--format", default=".wav", help="file extension: .wav .flac .mp3 .ogg .m4a")
    parser.add_argument("--drop-share", type=float, default=0.2, help="chance of leaving out each of disclosure, further help, closing")
    parser.add_argument("--prefix", default="call")
    parser.add_argument("--customer-db", type=float, default=0.0,
                        help="the customer's level against the staff member's, in dB (a quieter phone line: -10)")
    parser.add_argument("--customer-reverb", type=float, default=0.0,
                        help="the customer heard from across a room with this reverberation time (RT60, seconds; 0.5: an office)")
    parser.add_argument("--face-to-face", action="store_true", help="sidecars say channel face-to-face (two people at a desk)")
    parser.add_argument("--same-staff", action="store_true", help="the same staff lines and customer opening for complaints and requests")
    parser.add_argument("--no-channel", action="store_true", help="no channel in the sidecars: only the words say it is a call")
    parser.add_argument("--companion", action="store_true",
                        help="three people: a second customer beside the first (a couple at a branch), channel face-to-face")
    parser.add_argument("--transfer", nargs="?", const="cold", default="", choices=["cold", "warm"],
                        help="each call transferred to a colleague (a third voice, named staff in the RTTM) once the customer has told their "
                             "story; warm: the staff member stays on the line to introduce the customer, then leaves")
    parser.add_argument("--tts", choices=["espeak", "neural"], default="espeak",
                        help="who speaks: espeak-ng's voices, or neural ones (Kokoro, Piper; bench/neural_voices.py, `make bench-voices`)")
    parser.add_argument("--middle", type=int, default=0,
                        help="that many more exchanges after the customer's story (questions both ways, checks, \"Okay.\"): "
                             "15 makes calls of about four minutes")
    args = parser.parse_args()
    if args.transfer and args.companion:
        parser.error("--transfer goes without --companion")
    truths = make_calls(args.out, args.n, split=args.split, layout=args.layout, rate=args.rate, kinds=tuple(args.kind.split(",")),
                        seed=args.seed, suffix=args.format, drop_share=args.drop_share, prefix=args.prefix,
                        same_staff=args.same_staff, channel=not args.no_channel, companion=args.companion, transfer=args.transfer,
                        customer_db=args.customer_db, customer_reverb_s=args.customer_reverb, face_to_face=args.face_to_face, tts=args.tts,
                        middle=args.middle)
    minutes = sum(t.duration_s for t in truths) / 60
    print(f"{args.out}: {len(truths)} calls, {minutes:.1f} minutes", file=sys.stderr)


if __name__ == "__main__":
    main()
