// Parley: the interaction page's player. Clicking an utterance seeks the audio to its start;
// the utterance being heard is highlighted; #uN in the address opens at utterance N.
(function () {
  const player = document.getElementById("player");
  const lines = Array.from(document.querySelectorAll(".transcript .u"));
  if (!player || !lines.length) return;
  function seek(line, play) {
    player.currentTime = parseFloat(line.dataset.start);
    if (play) player.play().catch(function () {});
  }
  lines.forEach(function (line) {
    line.addEventListener("click", function () { seek(line, true); });
  });
  player.addEventListener("timeupdate", function () {
    const t = player.currentTime;
    lines.forEach(function (line) {
      const on = t >= parseFloat(line.dataset.start) && t < parseFloat(line.dataset.end);
      line.classList.toggle("playing", on);
    });
  });
  const target = location.hash && document.getElementById(location.hash.slice(1));
  if (target) {
    target.classList.add("target");
    target.scrollIntoView({ block: "center" });
    const go = function () { seek(target, false); };
    if (player.readyState >= 1) go(); else player.addEventListener("loadedmetadata", go, { once: true });
  }
})();
// Evidence links (#uN) in the side panel: jump to the utterance and seek there, without reloading.
document.querySelectorAll("a.jump").forEach(function (a) {
  a.addEventListener("click", function (ev) {
    const line = document.getElementById(a.getAttribute("href").slice(1));
    const player = document.getElementById("player");
    if (!line || !player) return;
    ev.preventDefault();
    history.replaceState(null, "", a.getAttribute("href"));
    document.querySelectorAll(".transcript .u.target").forEach(function (u) { u.classList.remove("target"); });
    line.classList.add("target");
    line.scrollIntoView({ block: "center" });
    player.currentTime = parseFloat(line.dataset.start);
  });
});
