// The report page's inline style sheet and script. The script pages and filters the class list, and turns a
// class's (or an output's) image block into <img> elements only when it is shown: images are base64 text,
// inline or in a file beside the page that is loaded when asked, and none is decoded until then. It sets body[data-ready] when it has run to the end (and
// data-ready-ms, the time since navigation), which the browser test checks.

export const PAGE_STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1a202c; background: #fff; }
header { background: #1a365d; color: #fff; padding: 12px 24px; }
header h1 { margin: 0; font-size: 22px; } header p { margin: 4px 0; }
header a { color: #bee3f8; } header code { color: #e2e8f0; }
main { padding: 8px 24px 48px; max-width: 1200px; }
section { margin: 24px 0; } h2 { border-bottom: 2px solid #cbd5e0; padding-bottom: 4px; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid #cbd5e0; padding: 3px 8px; text-align: left; font-variant-numeric: tabular-nums; }
th { background: #edf2f7; }
table.summary td:not(:first-child) { text-align: right; }
table.classes tbody tr { cursor: pointer; } table.classes tbody tr:hover { background: #ebf8ff; }
table.classes tr.selected { background: #bee3f8; } td.fail { color: #c53030; }
.controls { margin: 8px 0; } .controls input { width: 240px; padding: 3px; }
.figure { margin: 8px 0; } svg.chart { font: 11px system-ui, sans-serif; background: #fff; }
svg .axis { stroke: #4a5568; } svg .grid { stroke: #e2e8f0; } svg .chart-title { font-weight: bold; }
.images { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
figure { margin: 0; } figure img { max-width: 100%; border: 1px solid #cbd5e0; }
figcaption { font-size: 12px; color: #4a5568; } .missing { color: #c53030; }
.class-page h3 { margin: 12px 0 6px; } pre { background: #f7fafc; padding: 8px; overflow-x: auto; max-height: 400px; }
.output { margin: 12px 0; } details { margin: 6px 0; } summary { cursor: pointer; }
section.problems { border: 2px solid #c53030; background: #fff5f5; padding: 4px 16px; }
section.problems h2 { color: #c53030; border-color: #feb2b2; } section.problems code { word-break: break-all; }
`;

export const PAGE_SCRIPT = `
(function () {
  'use strict';
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  // Data blocks: inline <script type="application/json" id=...>, or a file <dir>/<id>.js beside the page that
  // calls protoscopeData(id, data) when loaded. done(data) runs once it is there (null: the file failed).
  var store = {}, waiting = {};
  window.protoscopeData = function (id, data) {
    store[id] = data;
    (waiting[id] || []).forEach(function (f) { f(data); });
    delete waiting[id];
  };
  function load(id, dir, done) {
    if (id in store) return done(store[id]);
    var block = document.getElementById(id);
    if (block) return done(store[id] = JSON.parse(block.textContent));
    if (!dir) return done([]);
    if (waiting[id]) return waiting[id].push(done);
    waiting[id] = [done];
    var s = el('script', { src: dir + '/' + id + '.js' });
    s.onerror = function () { window.protoscopeData(id, null); };
    document.body.appendChild(s);
  }
  function figures(list) {
    var box = el('div', { class: 'images' });
    list.forEach(function (img) {
      var f = el('figure');
      if (img.s) f.appendChild(el('img', { src: img.s, alt: img.t }));
      else f.appendChild(el('p', { class: 'missing' }, img.e || 'missing'));
      f.appendChild(el('figcaption', {}, img.t));
      box.appendChild(f);
    });
    return box;
  }
  function num(x) { return x === undefined ? '' : x.toFixed(4); }

  var index = document.getElementById('class-index');
  if (index) {
    var dir = index.getAttribute('data-assets');
    var first = JSON.parse(index.textContent);
    var total = Number(index.getAttribute('data-total')) || first.length;
    // The whole list, once known: inline when it fits one page, else from <dir>/rows.js on the first need.
    var all = first.length >= total ? first : null;
    var pageSize = Number(index.getAttribute('data-page-size')) || 50;
    var rows = document.getElementById('class-rows');
    var info = document.getElementById('page-info');
    var search = document.getElementById('class-search');
    var detail = document.getElementById('class-page');
    var shown = first, page = 0, selected = null;
    var byClass = {};
    first.forEach(function (r) { byClass[r.c] = r; });
    var withAll = function (then) {
      if (all) return then();
      load('rows', dir, function (list) {
        if (!list) {
          info.textContent = 'could not load ' + dir + '/rows.js (the folder beside the report)';
          return;
        }
        all = list;
        all.forEach(function (r) { byClass[r.c] = r; });
        if (!search.value.trim()) shown = all;
        then();
      });
    };

    var render = function () {
      var count = all ? shown.length : total;
      var pages = Math.max(1, Math.ceil(count / pageSize));
      page = Math.min(Math.max(page, 0), pages - 1);
      rows.replaceChildren();
      shown.slice(page * pageSize, (page + 1) * pageSize).forEach(function (r) {
        var tr = el('tr', { 'data-class': String(r.c) });
        if (r.c === selected) tr.className = 'selected';
        var cells = [String(r.c), r.n, num(r.pa), r.aa || '', num(r.pe), r.ae || '', String(r.i)];
        cells.forEach(function (c, k) {
          var td = el('td', {}, c);
          if (r.ok && ((k === 3 && !r.ok[0]) || (k === 5 && !r.ok[1]))) td.className = 'fail';
          tr.appendChild(td);
        });
        tr.addEventListener('click', function () { show(r.c); });
        rows.appendChild(tr);
      });
      info.textContent = count ? 'page ' + (page + 1) + ' of ' + pages + ' (' + count + ' classes)'
        : 'no class matches';
    };
    var show = function (c) {
      var r = byClass[c];
      if (!r) return;
      selected = c;
      var head = el('h3', {}, 'class ' + c + (r.n ? ': ' + r.n : ''));
      load(r.i ? 'img-' + c : 'none', r.i ? dir : null, function (list) {
        if (selected !== c) return;
        detail.replaceChildren(
          head,
          !list ? el('p', { class: 'missing' }, 'could not load ' + dir + '/img-' + c + '.js')
            : list.length ? figures(list) : el('p', {}, 'No images of this class in this report.'),
        );
      });
      if (location.hash !== '#class=' + c) history.replaceState(null, '', '#class=' + c);
      render();
    };
    var filter = function () {
      withAll(function () {
        var q = search.value.trim().toLowerCase();
        shown = q ? all.filter(function (r) { return String(r.c) === q || r.n.toLowerCase().indexOf(q) >= 0; })
          : all;
        page = 0;
        render();
      });
    };
    search.addEventListener('input', filter);
    document.getElementById('prev').addEventListener('click', function () {
      withAll(function () { page--; render(); });
    });
    document.getElementById('next').addEventListener('click', function () {
      withAll(function () { page++; render(); });
    });
    render();
    // #q=<text> opens the page with that search (a link to a filtered list); #class=<c> with that class shown.
    var q = /^#q=(.*)$/.exec(location.hash);
    if (q) {
      search.value = decodeURIComponent(q[1]);
      filter();
    }
    var m = /^#class=(\\d+)$/.exec(location.hash);
    if (m) {
      withAll(function () {
        var c = Number(m[1]);
        var at = all.findIndex(function (r) { return r.c === c; });
        if (at >= 0) page = Math.floor(at / pageSize);
        show(c);
      });
    }
  }

  document.querySelectorAll('details[data-images]').forEach(function (d) {
    d.addEventListener('toggle', function () {
      if (!d.open || d.getAttribute('data-loaded')) return;
      d.setAttribute('data-loaded', '1');
      load(d.getAttribute('data-images'), null, function (list) {
        d.querySelector('.images').replaceWith(figures(list));
      });
    });
  });
  document.body.setAttribute('data-ready', '1');
  // Milliseconds from navigation to here: how long the page took to open (read by the browser test).
  document.body.setAttribute('data-ready-ms', String(Math.round(performance.now())));
})();
`;
