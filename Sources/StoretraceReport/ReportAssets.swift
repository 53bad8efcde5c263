/// The report's style and script, inline in every page. The page's
/// Content-Security-Policy allows exactly these two by their SHA-256
/// (`styleHash`, `scriptHash`): nothing else runs or loads, not even a
/// script a hostile name might smuggle past the escaping. A test checks
/// the hashes against the texts; change both together.
enum ReportAssets {
    static let style: StaticString = """
        :root{color-scheme:light;--fail:#d62728;--call:#3b6fc4;--copy:#2e8b57;--dev:#8a63b8;--log:#8c8c8c;--chg:#e09b00}
        body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1500px;padding:0 18px 40px;color:#1d1d1f;background:#fff}
        header{border-bottom:1px solid #ddd;margin-bottom:8px}h1{font-size:22px;margin:14px 0 2px}
        h2{font-size:18px;margin:22px 0 8px;border-bottom:1px solid #eee;padding-bottom:3px}h3{font-size:15px;margin:14px 0 6px}
        .sub{color:#555;margin:0 0 10px}a{color:#1f5fbf}code,pre{font:12.5px/1.4 ui-monospace,"DejaVu Sans Mono",Menlo,monospace}
        pre{margin:0;white-space:pre-wrap;word-break:break-all}
        table.kv th{text-align:left;vertical-align:top;padding:2px 14px 2px 0;color:#555;font-weight:600;white-space:nowrap}
        table.kv td{padding:2px 30px 2px 0;vertical-align:top}
        table.grid{border-collapse:collapse;margin:6px 0 12px;font:12px/1.35 ui-monospace,"DejaVu Sans Mono",Menlo,monospace}
        table.grid th,table.grid td{border:1px solid #e3e3e3;padding:2px 6px;text-align:left;vertical-align:top}
        table.grid th{background:#f4f5f7}
        .finding{border-left:4px solid var(--log);background:#fafafa;margin:8px 0;padding:6px 10px}
        .finding.bad{border-color:var(--fail);background:#fff6f6}.finding.chg{border-color:var(--chg);background:#fffaf0}
        .finding .why{color:#333;margin-top:2px}.where{margin:4px 0 0;color:#555;font-size:13px}
        .count{color:#777;font-weight:normal}.note{color:#555;font-size:13px}.none{color:#555}
        .pod{background:#eef3fb;border-radius:3px;padding:0 4px;margin-left:6px;font-size:12px}
        details{margin:4px 0}summary{cursor:pointer;font-family:ui-monospace,"DejaVu Sans Mono",Menlo,monospace;font-size:12.5px}
        .legend .key{display:inline-block;width:10px;height:10px;margin:0 3px 0 10px;vertical-align:-1px}
        .key.call{background:var(--call)}.key.copy{background:var(--copy)}.key.fail{background:var(--fail)}
        .key.dev{background:var(--dev)}.key.log{background:var(--log)}.key.chg{background:var(--chg)}
        .key.agg{background:var(--call);opacity:.45}
        .tools{margin:4px 0}#view{color:#555;margin-left:8px}
        svg.tl{width:100%;height:auto;display:block;user-select:none;margin:4px 0 8px}
        svg .row{fill:#fff}svg .row.odd{fill:#f5f6f8}
        svg .axis line{stroke:#d9dce1;stroke-width:1}svg .axis text{font:11px system-ui,sans-serif;fill:#666;text-anchor:middle}
        svg text.lane{font:12px ui-monospace,"DejaVu Sans Mono",monospace;text-anchor:end;fill:#222}svg text.lane.bad{fill:var(--fail)}
        svg text.yl{font:11px system-ui,sans-serif;text-anchor:end;fill:#666}
        svg .call{fill:var(--call)}svg .copy{fill:var(--copy)}svg .fail{fill:var(--fail)}svg .dev{fill:var(--dev)}
        svg .log{fill:var(--log)}svg .chg{fill:var(--chg)}svg .agg{fill:var(--call);fill-opacity:.45}svg .agg.fail{fill:var(--fail);fill-opacity:.8}
        svg .bar{fill:var(--copy);fill-opacity:.8}svg .ra{fill:var(--chg)}svg text.ral{font:11px system-ui,sans-serif;fill:#a06e00}
        svg .hl{stroke:#000;stroke-width:2}svg .sel{fill:#1f5fbf;fill-opacity:.15;stroke:#1f5fbf}
        footer{margin-top:28px;color:#666;font-size:12px}
        """

    static let script: StaticString = """
        "use strict";
        (function () {
          var root = document.documentElement;
          window.addEventListener("error", function (e) { root.setAttribute("data-js-error", String(e.message)); });
          var NS = "http://www.w3.org/2000/svg";
          var charts = Array.prototype.slice.call(document.querySelectorAll("svg.tl"));
          if (!charts.length) { root.setAttribute("data-js", "ready"); return; }
          var span = Number(charts[0].getAttribute("data-span"));
          var X = Number(charts[0].getAttribute("data-x")), W = Number(charts[0].getAttribute("data-w"));
          var view = [0, span];
          var caption = document.getElementById("view");
          var captionTail = caption ? caption.textContent.replace(/^.* after /, " after ") : "";
          function niceStep(s) {
            for (var power = 1; power < 1e19; power *= 10) {
              var factors = [1, 2, 5];
              for (var i = 0; i < 3; i++) { if (Math.floor(s / (power * factors[i])) <= 10) { return power * factors[i]; } }
            }
            return s;
          }
          function offsetText(t, step) {
            var decimals = 0, unit = step;
            while (decimals < 9 && unit % 1e9 !== 0) { unit *= 10; decimals++; }
            return "+" + (t / 1e9).toFixed(decimals) + " s";
          }
          function drawAxis(svg, a, b) {
            var axis = svg.querySelector("g.axis");
            if (!axis) { return; }
            var top = axis.getAttribute("data-top"), bottom = axis.getAttribute("data-bottom"), labelY = axis.getAttribute("data-label-y");
            while (axis.firstChild) { axis.removeChild(axis.firstChild); }
            var step = niceStep(b - a);
            for (var t = Math.ceil(a / step) * step; t <= b; t += step) {
              var x = (X + (t - a) * W / (b - a)).toFixed(2);
              var line = document.createElementNS(NS, "line");
              line.setAttribute("x1", x); line.setAttribute("x2", x); line.setAttribute("y1", top); line.setAttribute("y2", bottom);
              var label = document.createElementNS(NS, "text");
              label.setAttribute("x", x); label.setAttribute("y", labelY);
              label.textContent = offsetText(t, step);
              axis.appendChild(line); axis.appendChild(label);
            }
          }
          function place(a, b) {
            a = Math.max(0, a); b = Math.min(span, b);
            if (!(b > a)) { return; }
            var k = W / (b - a);
            charts.forEach(function (svg) {
              var marks = svg.querySelectorAll(".z");
              for (var i = 0; i < marks.length; i++) {
                var m = marks[i], x = X + (Number(m.getAttribute("data-t")) - a) * k;
                if (m.tagName === "text") {
                  // A step's label stays in view while its step is.
                  if (x < X && x + Number(m.getAttribute("data-d")) * k > X) { x = X; }
                  m.setAttribute("x", (x + Number(m.getAttribute("data-dx") || 0)).toFixed(2));
                  continue;
                }
                m.setAttribute("x", x.toFixed(2));
                m.setAttribute("width", Math.max(2, Number(m.getAttribute("data-d")) * k).toFixed(2));
              }
              drawAxis(svg, a, b);
            });
            view = [a, b];
            root.setAttribute("data-view", Math.round(a) + "-" + Math.round(b));
            if (caption) { caption.textContent = offsetText(a, 1000) + " to " + offsetText(b, 1000) + captionTail; }
          }
          function highlight(id) {
            var old = document.querySelectorAll(".hl");
            for (var i = 0; i < old.length; i++) { old[i].classList.remove("hl"); }
            var mark = id ? document.getElementById(id) : null;
            if (!mark || !mark.hasAttribute("data-t")) { return false; }
            var t = Number(mark.getAttribute("data-t")), d = Number(mark.getAttribute("data-d"));
            var pad = Math.max(d * 4, span / 40, 1000);
            place(t - pad, t + d + pad);
            mark.classList.add("hl");
            return true;
          }
          function go() {
            var hash = decodeURIComponent(location.hash.slice(1));
            var zoom = /^zoom=(\\d+)-(\\d+)$/.exec(hash);
            if (zoom) { place(Number(zoom[1]), Number(zoom[2])); return; }
            highlight(hash);
          }
          charts.forEach(function (svg) {
            var selection = svg.querySelector(".sel"), start = null;
            function local(event) {
              var point = svg.createSVGPoint();
              point.x = event.clientX; point.y = event.clientY;
              var matrix = svg.getScreenCTM();
              return matrix ? point.matrixTransform(matrix.inverse()).x : 0;
            }
            function clamp(x) { return Math.min(X + W, Math.max(X, x)); }
            svg.addEventListener("mousedown", function (event) {
              if (event.button !== 0) { return; }
              start = clamp(local(event));
              event.preventDefault();
            });
            svg.addEventListener("mousemove", function (event) {
              if (start === null || !selection) { return; }
              var x = clamp(local(event));
              selection.setAttribute("x", Math.min(start, x).toFixed(2));
              selection.setAttribute("width", Math.abs(x - start).toFixed(2));
              selection.setAttribute("visibility", "visible");
            });
            window.addEventListener("mouseup", function (event) {
              if (start === null) { return; }
              var x = clamp(local(event)), from = Math.min(start, x), to = Math.max(start, x);
              start = null;
              if (selection) { selection.setAttribute("visibility", "hidden"); }
              if (to - from < 4) { return; }
              var a = view[0], b = view[1];
              place(a + (from - X) / W * (b - a), a + (to - X) / W * (b - a));
            });
          });
          var out = document.getElementById("zoom-out"), reset = document.getElementById("zoom-reset");
          if (out) { out.addEventListener("click", function () { var w = view[1] - view[0]; place(view[0] - w / 2, view[1] + w / 2); }); }
          if (reset) { reset.addEventListener("click", function () { place(0, span); }); }
          window.addEventListener("hashchange", go);
          go();
          root.setAttribute("data-js", "ready");
        })();
        """

    /// `'sha256-…'` of `style` and `script` as the page holds them.
    static let styleHash: StaticString = "sha256-LlQDUtTvaiCkL7AIM5AQ+b1y21oC11CoHwiY3P/nRkE="
    static let scriptHash: StaticString = "sha256-A5bnlzos56MoPhioCq65QunVn7EZkh47EhNkjjJrJc8="
}
