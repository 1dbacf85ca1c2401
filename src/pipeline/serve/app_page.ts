// The explorer's one page: plain DOM and fetch over the JSON API (server.ts), no framework and nothing from
// outside the server. Views are picked by the URL hash so that each is a link (and the browser test opens one):
//   #class=7, #q=dog&page=2    the class list and one class's figures
//   #contrast=6,7              why 6, not 7 (computed on demand, progress streamed)
//   #shifting=6,7              the pair's shifting curve (on demand)
//   #decompose=<run path>&class=7[&b=6]   decompose a file of the run folder through the same code as a
//                              dropped file (and with b, where it looks like class rather than b)
//   #overview                  the report's sections: component test, hyperplanes, shifting/masking curves
// The body gets data-ready="1" when the first view is drawn and data-idle="1" whenever no request is pending.
import { PAGE_STYLE } from "../report/page_assets.ts";

const APP_STYLE = `
header nav a { margin-right: 12px; } .row { display: flex; gap: 24px; flex-wrap: wrap; align-items: flex-start; }
.panel { margin: 12px 0; } .error { color: #c53030; font-weight: bold; } .muted { color: #718096; }
#drop { border: 2px dashed #a0aec0; padding: 18px; text-align: center; margin: 8px 0; }
#drop.over { background: #ebf8ff; } progress { width: 320px; } .share { font-variant-numeric: tabular-nums; }
table.classes td.has { color: #2f855a; } img.thumb { max-width: 240px; max-height: 160px; }
.scale { display: flex; gap: 8px; align-items: center; font-size: 12px; margin: 6px 0; }
.scale .bar { display: inline-block; width: 240px; height: 12px; border: 1px solid #4a5568;
  background: linear-gradient(to right, #000, #f00 33%, #ff0 67%, #fff); }
`;

const APP_SCRIPT = `
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var pending = 0;
  function busy(d) { pending += d; document.body.dataset.idle = pending === 0 ? "1" : "0"; }
  function esc(s) { return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
    return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]; }); }
  function api(path, init) {
    busy(1);
    return fetch(path, init).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) throw new Error(r.status + ": " + (body.error || r.statusText));
        return body;
      });
    }).finally(function () { busy(-1); });
  }
  function hashParams() {
    var p = {};
    location.hash.replace(/^#/, "").split("&").forEach(function (kv) {
      if (!kv) return; var i = kv.indexOf("=");
      p[decodeURIComponent(i < 0 ? kv : kv.slice(0, i))] = i < 0 ? "" : decodeURIComponent(kv.slice(i + 1));
    });
    return p;
  }
  function show(id) {
    ["classes-view", "overview-view", "contrast-view", "upload-view"].forEach(function (v) {
      $(v).hidden = v !== id;
    });
  }
  function fail(el, e) { el.innerHTML = '<p class="error">' + esc(e.message || e) + "</p>"; }
  function fmt(x, d) { return typeof x === "number" ? x.toFixed(d == null ? 4 : d) : "-"; }
  function className(c) { return c.index + (c.name ? " " + c.name : ""); }

  var classCache = [];
  function loadClasses(q, page) {
    $("class-search").value = q || "";
    return api("/api/classes?q=" + encodeURIComponent(q || "") + "&page=" + (page || 1)).then(function (r) {
      $("page-info").textContent = "page " + r.page + " of " + r.pages + " (" + r.total + " classes)";
      $("class-rows").innerHTML = r.classes.map(function (c) {
        var ok = c.componentPass ? c.componentPass.map(function (p) { return p ? "pass" : "fail"; }).join(" / ") : "-";
        return '<tr data-class="' + c.index + '"><td>' + c.index + "</td><td>" + esc(c.name) + '</td><td class="' +
          (c.hasPrototypes ? "has" : "") + '">' + (c.hasPrototypes ? "yes" : "no") + "</td><td>" + ok + "</td></tr>";
      }).join("");
      $("prev").disabled = r.page <= 1; $("next").disabled = r.page >= r.pages;
      $("prev").dataset.page = r.page - 1; $("next").dataset.page = r.page + 1;
    });
  }
  function loadAllClasses() {
    return api("/api/classes?size=1000").then(function (r) {
      classCache = r.classes;
      var opts = r.classes.map(function (c) {
        return '<option value="' + c.index + '">' + esc(className(c)) + "</option>";
      }).join("");
      ["pick-a", "pick-b", "upload-class", "where-a", "where-b"].forEach(function (id) { $(id).innerHTML = opts; });
      if (r.classes.length > 1) $("where-b").value = r.classes[1].index;
      $("upload-class").innerHTML = '<option value="">the predicted class</option>' +
        r.classes.filter(function (c) { return c.hasPrototypes; }).map(function (c) {
          return '<option value="' + c.index + '">' + esc(className(c)) + "</option>";
        }).join("");
      if (r.classes.length > 1) $("pick-b").value = r.classes[1].index;
    });
  }
  function showClass(c) {
    var el = $("class-page");
    el.innerHTML = '<p class="muted">loading class ' + esc(c) + "...</p>";
    document.querySelectorAll("#class-rows tr").forEach(function (tr) {
      tr.className = tr.dataset.class === String(c) ? "selected" : "";
    });
    return api("/api/classes/" + encodeURIComponent(c)).then(function (d) {
      var comp = d.component ? "<p>component test: all images p(class) " + fmt(d.component.allImages.pClass) +
        " (" + (d.component.allImages.pass ? "pass" : "fail") + "), target excluded p(class) " +
        fmt(d.component.targetExcluded.pClass) + " (" + (d.component.targetExcluded.pass ? "pass" : "fail") + ")</p>" : "";
      el.innerHTML = "<h3>class " + esc(className(d)) + "</h3>" +
        "<p>" + (d.hasPrototypes ? d.prototypes + " prototypes" : "no prototypes in this run") + "</p>" + comp +
        '<div class="images">' + d.images.map(function (i) {
          return '<figure><img alt="' + esc(i.title) + '" src="' + esc(i.url) + '"><figcaption>' + esc(i.title) +
            "</figcaption></figure>";
        }).join("") + "</div>";
    }).catch(function (e) { fail(el, e); });
  }
  function loadOverview() {
    return api("/api/overview").then(function (o) {
      $("run-path").textContent = o.run;
      $("overview").innerHTML = o.sections.map(function (s) { return s.html; }).join("");
      $("cap").textContent = (o.uploadCap / 1048576).toFixed(0) + " MiB";
    });
  }
  // The report's folded image lists: their data: URIs become <img> when opened.
  document.addEventListener("toggle", function (ev) {
    var d = ev.target;
    if (!d.dataset || !d.dataset.images || !d.open || d.dataset.done) return;
    var block = document.getElementById(d.dataset.images);
    d.dataset.done = "1";
    d.querySelector(".images").innerHTML = JSON.parse(block.textContent).map(function (i) {
      return "<figure>" + (i.s ? '<img alt="' + esc(i.t) + '" src="' + i.s + '">' : '<span class="missing">' +
        esc(i.e) + "</span>") + "<figcaption>" + esc(i.t) + "</figcaption></figure>";
    }).join("");
  }, true);

  // On-demand jobs: POST starts one, its events stream in (EventSource), the button cancels it.
  var current = null;
  function runJob(kind, a, b) {
    var el = $("job");
    var t0 = performance.now();
    el.innerHTML = '<p>' + esc(kind) + " " + esc(a) + ", " + esc(b) + ': <progress id="job-progress"></progress> ' +
      '<span id="job-state">queued</span> <button id="job-cancel" type="button">cancel</button></p><div id="job-result"></div>';
    busy(1);
    return api("/api/" + kind + "?a=" + encodeURIComponent(a) + "&b=" + encodeURIComponent(b), { method: "POST" })
      .then(function (job) {
        current = job.id;
        $("job-cancel").onclick = function () { fetch("/api/jobs/" + job.id, { method: "DELETE" }); };
        return new Promise(function (resolve) {
          var es = new EventSource("/api/jobs/" + job.id + "/events");
          var end = function (e) { es.close(); resolve(JSON.parse(e.data)); };
          es.addEventListener("progress", function (e) {
            var p = JSON.parse(e.data);
            $("job-state").textContent = p.label + " " + p.done + "/" + p.total;
            $("job-progress").max = p.total; $("job-progress").value = p.done;
          });
          es.addEventListener("status", function (e) { $("job-state").textContent = JSON.parse(e.data).status; });
          ["done", "error", "cancelled"].forEach(function (t) { es.addEventListener(t, end); });
        });
      }).then(function (ev) {
        // The server's clock (from the POST to the job's end): the page's own stands still in a headless dump.
        var ms = typeof ev.ms === "number" ? ev.ms : performance.now() - t0;
        document.body.dataset.lastJobMs = String(Math.round(ms));
        $("job-cancel").remove();
        if (ev.type !== "done") {
          $("job-state").textContent = ev.type;
          return fail($("job-result"), ev.error || "cancelled");
        }
        $("job-state").textContent = "done in " + (ms / 1000).toFixed(1) + " s" + (ev.result.cached ? " (cached)" : "");
        $("job-progress").max = 1; $("job-progress").value = 1;
        var r = ev.result;
        $("job-result").innerHTML = (r.figure ? '<figure><img id="job-figure" alt="' + esc(kind) + ' figure" src="' +
          esc(r.figure) + '"><figcaption>written to ' + esc(r.output) + "</figcaption></figure>" : "") +
          (r.pair ? shiftingTable(r) : "");
      }).catch(function (e) { fail($("job-result") || el, e); }).finally(function () { busy(-1); });
  }
  function shiftingTable(r) {
    return "<table><tr><th>offset</th>" + r.offsets.map(function (o) { return "<th>" + o + "</th>"; }).join("") +
      "</tr><tr><th>p(" + r.pair.to + ")</th>" + r.pair.pTo.map(function (p) { return "<td>" + fmt(p, 3) + "</td>"; }).join("") +
      "</tr><tr><th>p(" + r.pair.from + ")</th>" + r.pair.pFrom.map(function (p) { return "<td>" + fmt(p, 3) + "</td>"; }).join("") +
      "</tr></table>";
  }

  // Uploads: a dropped or chosen file, or (#decompose=) a file of the run folder, goes the same way.
  var lastUpload = null;
  function where(blob, a, b) {
    var el = $("where");
    var t0 = performance.now();
    el.innerHTML = '<p class="muted">scoring the positions...</p>';
    return api("/api/where?a=" + encodeURIComponent(a) + "&b=" + encodeURIComponent(b), { method: "POST", body: blob })
      .then(function (r) {
        var ms = performance.now() - t0;
        el.innerHTML = '<figure><img id="where-figure" alt="where A rather than B" src="' + esc(r.figure) + '"><figcaption>' +
          "p(" + r.a + ") " + fmt(r.pA, 3) + ", p(" + r.b + ") " + fmt(r.pB, 3) + "; " + (100 * r.aSideShare).toFixed(1) +
          "% of the positions on " + r.a + "'s side; answered in " + (ms / 1000).toFixed(2) + " s" +
          (r.cached ? " (cached)" : "") + "</figcaption></figure>";
      }).catch(function (e) { fail(el, e); });
  }
  $("where-go").addEventListener("click", function () {
    if (lastUpload) where(lastUpload, $("where-a").value, $("where-b").value);
  });
  function decompose(blob, cls) {
    lastUpload = blob;
    $("where-go").disabled = false;
    var el = $("decomposition");
    var t0 = performance.now();
    el.innerHTML = '<p class="muted">decomposing...</p>';
    var q = cls === "" || cls == null ? "" : String(cls);
    var go = function (c) {
      return api("/api/decompose?class=" + encodeURIComponent(c), { method: "POST", body: blob });
    };
    // Without a chosen class: the predicted one, found by a first call with any class that has prototypes.
    var first = q !== "" ? go(q) : go(classCache.filter(function (c) { return c.hasPrototypes; })[0].index)
      .then(function (r) {
        var top = r.top5[0].class;
        var ok = classCache.some(function (c) { return c.index === top && c.hasPrototypes; });
        return ok && top !== r.class ? go(top) : r;
      });
    return first.then(function (r) {
      var ms = performance.now() - t0;
      document.body.dataset.lastDecomposeMs = String(Math.round(ms));
      el.innerHTML = "<h3>in the prototypes of class " + esc(r.class + " " + r.name) + "</h3>" +
        '<p class="muted">answered in ' + (ms / 1000).toFixed(2) + " s" + (r.cached ? " (cached)" : "") +
        "; written to " + esc(r.output) + "</p>" +
        '<div class="row"><figure><img alt="the model\\'s input" src="' + esc(r.image) + '"><figcaption>the model\\'s input (224 px crop)</figcaption></figure>' +
        '<table id="top5"><tr><th>top-5</th><th>p</th></tr>' + r.top5.map(function (t) {
          return "<tr><td>" + esc(t.class + " " + (t.name || "")) + '</td><td class="share">' + fmt(t.probability) + "</td></tr>";
        }).join("") + "</table>" +
        '<table id="reconstruction"><tr><th>relative reconstruction error</th><td class="share">' +
        fmt(r.reconstruction.relative) + "</td></tr><tr><th>median per position</th><td>" +
        fmt(r.reconstruction.perPosition.median) + "</td></tr></table></div>" +
        '<table id="shares"><tr><th>prototype</th><th>share of the contribution</th><th>total</th><th>peak (row, col)</th></tr>' +
        r.prototypes.map(function (p) {
          return '<tr data-prototype="' + p.prototype + '"><td>' + p.prototype + '</td><td class="share">' + fmt(p.share) +
            '</td><td class="share">' + fmt(p.totalContribution) + "</td><td>" + p.peak.row + ", " + p.peak.col + "</td></tr>";
        }).join("") + "</table>" +
        '<div class="images">' + r.prototypes.map(function (p) {
          return '<figure><img alt="prototype ' + p.prototype + '" src="' + esc(p.overlay) + '"><figcaption>prototype ' +
            p.prototype + ": " + (100 * p.share).toFixed(1) + "% of the contribution</figcaption></figure>";
        }).join("") + "</div>" +
        '<div class="scale"><span>0</span><span class="bar"></span><span>the image\\'s largest contribution</span></div>' +
        '<p class="muted">colour: ' + esc(r.contribution) + "</p>" +
        (r.figure ? '<figure><img id="decompose-figure" alt="the decompose figure" src="' + esc(r.figure) +
          '"><figcaption>the figure deno task decompose writes (figure.jpg)</figcaption></figure>' : "");
    }).catch(function (e) { fail(el, e); });
  }
  var drop = $("drop");
  drop.addEventListener("dragover", function (e) { e.preventDefault(); drop.className = "over"; });
  drop.addEventListener("dragleave", function () { drop.className = ""; });
  drop.addEventListener("drop", function (e) {
    e.preventDefault(); drop.className = "";
    if (e.dataTransfer.files[0]) decompose(e.dataTransfer.files[0], $("upload-class").value);
  });
  $("file").addEventListener("change", function () {
    if (this.files[0]) decompose(this.files[0], $("upload-class").value);
  });

  $("class-search").addEventListener("input", function () { location.hash = "q=" + encodeURIComponent(this.value); });
  $("class-rows").addEventListener("click", function (e) {
    var tr = e.target.closest("tr"); if (tr) location.hash = "class=" + tr.dataset.class;
  });
  ["prev", "next"].forEach(function (id) {
    $(id).addEventListener("click", function () {
      location.hash = "q=" + encodeURIComponent($("class-search").value) + "&page=" + this.dataset.page;
    });
  });
  $("go-contrast").addEventListener("click", function () { location.hash = "contrast=" + $("pick-a").value + "," + $("pick-b").value; });
  $("go-shifting").addEventListener("click", function () { location.hash = "shifting=" + $("pick-a").value + "," + $("pick-b").value; });

  function render() {
    var p = hashParams();
    // Read again on every visit: jobs since the last one add to "computed in the explorer".
    if (p.overview !== undefined) { show("overview-view"); return loadOverview(); }
    if (p.contrast !== undefined || p.shifting !== undefined) {
      show("contrast-view");
      if (!p.contrast && !p.shifting) return Promise.resolve();
      var ab = (p.contrast || p.shifting).split(",");
      $("pick-a").value = ab[0]; $("pick-b").value = ab[1];
      return runJob(p.contrast ? "contrast" : "shifting", ab[0], ab[1]);
    }
    if (p.upload !== undefined || p.decompose) {
      show("upload-view");
      if (!p.decompose) return Promise.resolve();
      if (p.class) $("upload-class").value = p.class;
      if (p.b) { $("where-a").value = p.class; $("where-b").value = p.b; }
      busy(1);
      return fetch("/files/" + p.decompose).then(function (r) { return r.blob(); })
        .then(function (blob) {
          return decompose(blob, p.class).then(function () { if (p.b) return where(blob, p.class, p.b); });
        }).finally(function () { busy(-1); });
    }
    show("classes-view");
    return loadClasses(p.q, p.page).then(function () { if (p["class"] !== undefined) return showClass(p["class"]); });
  }
  window.addEventListener("hashchange", render);
  busy(0);
  Promise.all([loadOverview(), loadAllClasses()]).then(render).catch(function (e) { fail($("class-page"), e); })
    .finally(function () { document.body.dataset.ready = "1"; });
})();
`;

export const APP_PAGE = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>protoscope explorer</title><link rel="icon" href="data:,"><style>${PAGE_STYLE}${APP_STYLE}</style></head>
<body><header><h1>protoscope explorer</h1><p><code id="run-path"></code></p>
<nav><a href="#">classes</a><a href="#contrast">contrast A vs B</a><a href="#upload">your image</a><a href="#overview">run overview</a></nav></header>
<main>
<section id="classes-view"><h2>Classes</h2>
<div class="controls"><input id="class-search" type="search" placeholder="class name or index" aria-label="search classes">
<button id="prev" type="button">&lt;</button> <span id="page-info"></span> <button id="next" type="button">&gt;</button></div>
<table class="classes"><thead><tr><th>class</th><th>name</th><th>prototypes</th><th>component test (all / excl.)</th></tr></thead>
<tbody id="class-rows"></tbody></table><div id="class-page" class="class-page"></div></section>
<section id="contrast-view" hidden><h2>Why A, not B</h2>
<p>Computed on demand by the pipeline's own code (the pair's hyperplane is trained if the run has none) and kept in
the run folder under <code>explorer/</code>.</p>
<div class="controls">A <select id="pick-a"></select> B <select id="pick-b"></select>
<button id="go-contrast" type="button">why A, not B</button> <button id="go-shifting" type="button">shifting curve</button></div>
<div id="job" class="panel"></div></section>
<section id="upload-view" hidden><h2>Your image</h2>
<p>Explained in a class's prototypes, as <code>deno task decompose</code> does (uploads up to <span id="cap"></span>).</p>
<div class="controls">class <select id="upload-class"></select></div>
<div id="drop">drop a JPEG or PNG here, or <input id="file" type="file" accept="image/jpeg,image/png"></div>
<div id="decomposition" class="panel"></div>
<div class="controls">where does it look like A <select id="where-a"></select> rather than B <select id="where-b"></select>
<button id="where-go" type="button" disabled>show the map</button></div>
<div id="where" class="panel"></div></section>
<section id="overview-view" hidden><div id="overview"></div></section>
</main><script>${APP_SCRIPT}</script></body></html>
`;
