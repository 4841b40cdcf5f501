// synack report: ladder zoom, segment tooltips, copy button. No network, no
// libraries. The ladder layout follows the same rules as html/ladder.rs.
(function () {
  "use strict";
  function $(id) { return document.getElementById(id); }

  function initLadder() {
    var svg = $("ladder");
    if (!svg) return;
    var total = +svg.getAttribute("data-total");
    var rowH = +svg.getAttribute("data-row-h");
    var top = +svg.getAttribute("data-top");
    var width = +svg.getAttribute("data-width");
    var gapX = +svg.getAttribute("data-gap-x");
    var rowsG = $("ladder-rows");
    var SVGNS = svg.namespaceURI;
    var rows = Array.prototype.slice.call(rowsG.querySelectorAll(".row:not(.gap)"));
    var info = rows.map(function (r) {
      var i = r.getAttribute("data-i");
      return i !== null ? { seg: true, at: +i } : { seg: false, at: +r.getAttribute("data-after") };
    });

    function makeGap(y, n) {
      var g = document.createElementNS(SVGNS, "g");
      g.setAttribute("class", "row gap");
      g.setAttribute("transform", "translate(0," + y + ")");
      var t = document.createElementNS(SVGNS, "text");
      t.setAttribute("x", gapX);
      t.setAttribute("y", 17);
      t.setAttribute("text-anchor", "middle");
      t.textContent = "\u22ef " + n + " segment" + (n === 1 ? "" : "s") + " not shown \u22ef";
      g.appendChild(t);
      return g;
    }

    function layout(ranges) {
      Array.prototype.slice.call(rowsG.querySelectorAll(".gap")).forEach(function (g) {
        rowsG.removeChild(g);
      });
      var y = top, cursor = 0, shownSegs = 0;
      function gapTo(at) {
        if (at > cursor) {
          rowsG.appendChild(makeGap(y, at - cursor));
          y += rowH;
          cursor = at;
        }
      }
      for (var k = 0; k < rows.length; k++) {
        var d = info[k], shown = false;
        for (var j = 0; j < ranges.length; j++) {
          var a = ranges[j][0], b = ranges[j][1];
          if (d.seg ? (a <= d.at && d.at < b) : (a <= d.at && d.at <= b)) { shown = true; break; }
        }
        if (!shown) { rows[k].setAttribute("display", "none"); continue; }
        gapTo(d.at);
        rows[k].removeAttribute("display");
        rows[k].setAttribute("transform", "translate(0," + y + ")");
        y += rowH;
        if (d.seg) { cursor = d.at + 1; shownSegs++; }
      }
      gapTo(total);
      var h = y + 12;
      svg.setAttribute("height", h);
      svg.setAttribute("viewBox", "0 0 " + width + " " + h);
      $("post-client").setAttribute("y2", h);
      $("post-server").setAttribute("y2", h);
      var note = $("lad-info");
      if (note) note.textContent = shownSegs + " of " + total + " segments shown";
    }

    var from = $("lad-from"), count = $("lad-count"), slider = $("lad-slider");
    if (!from) return;
    function show(a) {
      var n = Math.max(1, Math.min(+count.value || 100, +count.max));
      a = Math.max(0, Math.min(a, total - n));
      from.value = a;
      slider.value = a;
      layout([[a, a + n]]);
    }
    from.addEventListener("change", function () { show(+from.value); });
    count.addEventListener("change", function () { show(+from.value); });
    slider.addEventListener("input", function () { show(+slider.value); });
    $("lad-first").addEventListener("click", function () { show(0); });
    $("lad-last").addEventListener("click", function () { show(total); });
    $("lad-summary").addEventListener("click", function () {
      var e = +svg.getAttribute("data-edge");
      layout([[0, e], [total - e, total]]);
    });
    layout(JSON.parse(svg.getAttribute("data-ranges")));
  }

  var FIELDS = [
    ["t-ms", "sent at (ms)"], ["arrive-ms", "arrives (ms)"], ["flags", "flags"],
    ["seq", "seq (relative)"], ["ack", "ack (relative)"], ["abs-seq", "seq (absolute)"],
    ["abs-ack", "ack (absolute)"], ["len", "len"], ["win", "win (bytes)"],
    ["options", "options"], ["fate", "fate"], ["drop", "drop reason"],
    ["retransmission", "retransmission"], ["port", "client port"]
  ];

  function initTooltip() {
    var tip = $("tip");
    if (!tip) return;
    document.addEventListener("mouseover", function (ev) {
      var g = ev.target && ev.target.closest ? ev.target.closest(".segment") : null;
      if (!g) { tip.hidden = true; return; }
      var side = g.getAttribute("data-side");
      var head = document.createElement("div");
      var b = document.createElement("b");
      b.textContent = "segment #" + g.getAttribute("data-i") + ": " + side + " \u2192 " +
        (side === "client" ? "server" : "client");
      head.appendChild(b);
      var table = document.createElement("table");
      FIELDS.forEach(function (f) {
        var v = g.getAttribute("data-" + f[0]);
        if (v === null || v === "") return;
        var tr = document.createElement("tr");
        var th = document.createElement("th");
        var td = document.createElement("td");
        th.textContent = f[1];
        td.textContent = v;
        tr.appendChild(th);
        tr.appendChild(td);
        table.appendChild(tr);
      });
      tip.textContent = "";
      tip.appendChild(head);
      tip.appendChild(table);
      tip.hidden = false;
    });
    document.addEventListener("mousemove", function (ev) {
      if (tip.hidden) return;
      var x = ev.clientX + 16, y = ev.clientY + 16;
      if (x + tip.offsetWidth > window.innerWidth) x = ev.clientX - tip.offsetWidth - 12;
      if (y + tip.offsetHeight > window.innerHeight) y = ev.clientY - tip.offsetHeight - 12;
      tip.style.left = Math.max(0, x) + "px";
      tip.style.top = Math.max(0, y) + "px";
    });
  }

  function initCopy() {
    var button = $("copy-replay");
    if (!button) return;
    button.addEventListener("click", function () {
      var text = $("replay").textContent;
      var done = function () { button.textContent = "copied"; };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(text).then(done, function () { select(); });
      } else {
        select();
      }
      function select() {
        var r = document.createRange();
        r.selectNodeContents($("replay"));
        var s = window.getSelection();
        s.removeAllRanges();
        s.addRange(r);
      }
    });
  }

  initLadder();
  initTooltip();
  initCopy();
  document.body.setAttribute("data-ready", "1");
})();
