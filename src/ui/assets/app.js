// lookout's local page: the overview from /api/overview, the live view from the event stream
// /api/stream, shapes drawn on the view checked and saved through /api/check and /api/save.
// Plain JavaScript, no dependencies, nothing fetched from anywhere but this server.
'use strict';

// Everything the page knows, also read by the tests (window.lookout).
const S = (window.lookout = {
  overview: null,
  polls: 0,
  layouts: [],
  frames: {},
  heat: {},
  events: [],
  framesSeen: 0,
  tracksSeen: 0,
  camera: null,
  draft: { kind: 'line', points: [], index: null },
  cursor: [0.5, 0.5],
  lastCheck: null,
  saved: null,
  connected: false,
  stills: {},
  stillError: null,
});

const $ = (id) => document.getElementById(id);
const COLORS = {
  track: '#00e5ff',
  zone: '#34c759',
  line: '#ff9f0a',
  mask: 'rgba(160,160,160,0.45)',
  motionMask: 'rgba(120,120,255,0.25)',
  motion: '#ffd60a',
  region: 'rgba(90,140,255,0.8)',
  draft: '#ff2d95',
};

// ---- helpers ----

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function row(cells) {
  const tr = el('tr');
  cells.forEach((c, i) => {
    const td = el(i === 0 ? 'th' : 'td', c.text !== undefined ? c.text : c, c.cls);
    if (i === 0) td.scope = 'row';
    tr.appendChild(td);
  });
  return tr;
}

const num = (v) => ({ text: v, cls: 'num' });
const fixed = (v, d) => (Number.isFinite(v) ? v.toFixed(d) : '–');

// ---- overview ----

let previous = null;

function renderOverview(o) {
  const now = performance.now();
  const dt = previous ? (now - previous.at) / 1000 : 0;
  const before = new Map(previous ? previous.o.cameras.map((c) => [c.name, c]) : []);
  const rate = (c, key) => {
    const b = before.get(c.name);
    return b && dt > 0 ? (c[key] - b[key]) / dt : NaN;
  };
  const cams = $('cameras').tBodies[0];
  cams.replaceChildren(
    ...o.cameras.map((c) =>
      row([
        c.name,
        { text: c.state, cls: 'state-' + c.state },
        num(fixed(rate(c, 'captured'), 1)),
        num(fixed(rate(c, 'detected'), 1)),
        num(c.dropped),
        num(c.motion_frames ? Math.round((100 * c.motion_moving) / c.motion_frames) + '%' : '–'),
        num(c.tracks),
        num(c.events),
        Object.entries(c.occupancy).map(([z, n]) => `${z}: ${n}`).join(', ') || '–',
        Object.entries(c.lines).map(([l, n]) => `${l}: ${n[0]} / ${n[1]}`).join(', ') || '–',
      ])
    )
  );
  cams.querySelectorAll('tr').forEach((tr, i) => (tr.dataset.camera = o.cameras[i].name));
  $('sinks').tBodies[0].replaceChildren(
    ...o.sinks.map((s) =>
      row([
        s.name,
        s.up === null ? '–' : { text: s.up ? 'up' : 'down', cls: s.up ? 'up' : 'down' },
        num(s.delivered),
        num(s.failed),
        num(s.pending),
        num(s.oldest_age_s === null ? '–' : `${fixed(s.oldest_age_s, 1)} s`),
        num(s.dropped),
      ])
    )
  );
  $('models').tBodies[0].replaceChildren(
    ...o.models.map((m) => row([m.name, m.backend, num(m.errors), m.sha256.slice(0, 16)]))
  );
  $('stages').textContent =
    Object.entries(o.stages_ms)
      .map(([k, v]) => `${k} ${v.toFixed(1)} ms`)
      .join(' · ') || 'no frames analysed yet';
  $('build').textContent = `lookout ${o.version} · ${o.backend} on ${o.adapter}`;
  previous = { at: now, o };
  S.overview = o;
  S.polls++;
}

async function pollOverview() {
  try {
    const r = await fetch('/api/overview', { cache: 'no-store' });
    if (r.ok) renderOverview(await r.json());
  } catch (e) {
    // The run ended or restarts: try again.
  }
  setTimeout(pollOverview, 1000);
}

// ---- live stream ----

function connect() {
  const es = new EventSource('/api/stream');
  es.onopen = () => {
    S.connected = true;
    $('link').textContent = 'live';
  };
  es.onerror = () => {
    S.connected = false;
    $('link').textContent = 'reconnecting…';
  };
  es.addEventListener('layout', (m) => {
    S.layouts = JSON.parse(m.data);
    fillCameras();
    fillExisting();
    draw();
  });
  es.addEventListener('frame', (m) => {
    const f = JSON.parse(m.data);
    S.frames[f.camera] = f;
    S.framesSeen++;
    S.tracksSeen += f.tracks.length;
    if (f.camera === S.camera) {
      $('live-counts').textContent = `${f.tracks.length} tracks · frame ${f.seq}`;
      draw();
    }
  });
  es.addEventListener('heat', (m) => {
    const h = JSON.parse(m.data);
    S.heat[h.camera] = h;
    if (h.camera === S.camera) draw();
  });
  es.addEventListener('event', (m) => {
    const e = JSON.parse(m.data);
    S.events.push(e);
    if (S.events.length > 200) S.events.shift();
    addToTimeline(e);
  });
}

function describe(e) {
  switch (e.kind) {
    case 'line_crossed':
      return `${e.label} #${e.track_id} crossed ${e.line} (${e.direction})`;
    case 'zone_enter':
      return `${e.label} #${e.track_id} entered ${e.zone}`;
    case 'zone_exit':
      return `${e.label} #${e.track_id} left ${e.zone}`;
    case 'loitering':
      return `${e.label} #${e.track_id} loitering in ${e.zone}`;
    case 'occupancy':
      return `${e.zone}: ${e.count} ${e.label}`;
    case 'object':
      return `${e.label} #${e.track_id} ${e.type}`;
    default:
      return `${e.kind} ${e.label}`;
  }
}

function addToTimeline(e) {
  if (e.camera !== S.camera) return;
  const li = el('li');
  const t = el('time', (e.time || '').slice(11, 19));
  t.dateTime = e.time;
  li.append(t, document.createTextNode(describe(e)));
  li.dataset.kind = e.kind;
  const list = $('timeline');
  list.prepend(li);
  while (list.children.length > 50) list.lastChild.remove();
}

function fillCameras() {
  const sel = $('camera');
  const names = S.layouts.map((l) => l.camera);
  if (sel.options.length !== names.length || names.some((n, i) => sel.options[i].value !== n)) {
    sel.replaceChildren(...names.map((n) => new Option(n, n)));
  }
  if (!names.includes(S.camera)) S.camera = names[0] || null;
  sel.value = S.camera || '';
}

// ---- geometry ----

function layout() {
  return S.layouts.find((l) => l.camera === S.camera) || null;
}

function frameSize() {
  const f = S.frames[S.camera];
  return f ? [f.width, f.height] : null;
}

// A point of the file (relative, or pixels) as relative 0..1, or null when unknown.
function toRel(p) {
  const l = layout();
  if (!l || l.units === 'relative') return p;
  const size = frameSize();
  return size ? [p[0] / size[0], p[1] / size[1]] : null;
}

function canvasSize() {
  const c = $('canvas');
  const size = frameSize() || [16, 9];
  const w = Math.max(200, Math.round(c.clientWidth * (window.devicePixelRatio || 1)));
  const h = Math.round((w * size[1]) / size[0]);
  if (c.width !== w || c.height !== h) {
    c.width = w;
    c.height = h;
  }
  return [w, h];
}

// ---- redacted stills (ui.stills: this machine only, redacted or nothing) ----

function refreshStill() {
  const l = layout();
  $('still-label').hidden = !(l && l.stills);
  if (l && l.stills && $('show-still').checked && !$('live').hidden) {
    const cam = S.camera;
    const img = new Image();
    img.onload = () => {
      S.stills[cam] = img;
      S.stillError = null;
      draw();
    };
    img.onerror = () => {
      // Redaction failed or this is another machine: no picture, only metadata.
      delete S.stills[cam];
      S.stillError = cam;
      draw();
    };
    img.src = `/api/still/${encodeURIComponent(cam)}?t=${Date.now()}`;
  }
  setTimeout(refreshStill, 5000);
}

// ---- drawing ----

let pending = false;
function draw() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => {
    pending = false;
    paint();
  });
}

function poly(ctx, pts, w, h) {
  ctx.beginPath();
  pts.forEach((p, i) => (i ? ctx.lineTo(p[0] * w, p[1] * h) : ctx.moveTo(p[0] * w, p[1] * h)));
  ctx.closePath();
}

function arrow(ctx, x, y, dx, dy, size) {
  const len = Math.hypot(dx, dy) || 1;
  const ux = dx / len,
    uy = dy / len;
  const tx = x + ux * size * 2,
    ty = y + uy * size * 2;
  ctx.beginPath();
  ctx.moveTo(x, y);
  ctx.lineTo(tx, ty);
  ctx.moveTo(tx, ty);
  ctx.lineTo(tx - ux * size - uy * size * 0.6, ty - uy * size + ux * size * 0.6);
  ctx.moveTo(tx, ty);
  ctx.lineTo(tx - ux * size + uy * size * 0.6, ty - uy * size - ux * size * 0.6);
  ctx.stroke();
}

// Arrows across a line a->b for its counted direction (a_to_b: from the left of a->b to its
// right, which on a picture whose y grows downwards points along (-dy, dx)).
function lineArrows(ctx, a, b, direction, w, h, color) {
  const ax = a[0] * w,
    ay = a[1] * h,
    bx = b[0] * w,
    by = b[1] * h;
  const mx = (ax + bx) / 2,
    my = (ay + by) / 2;
  const dx = bx - ax,
    dy = by - ay;
  ctx.strokeStyle = color;
  ctx.lineWidth = 2;
  const size = Math.max(6, w / 100);
  if (direction === 'a_to_b' || direction === 'any') arrow(ctx, mx, my, -dy, dx, size);
  if (direction === 'b_to_a' || direction === 'any') arrow(ctx, mx, my, dy, -dx, size);
}

function label(ctx, text, x, y, color, w) {
  ctx.font = `${Math.max(11, Math.round(w / 70))}px system-ui, sans-serif`;
  const m = ctx.measureText(text);
  const h = Math.max(11, Math.round(w / 70)) + 4;
  ctx.fillStyle = 'rgba(0,0,0,0.7)';
  ctx.fillRect(x, y - h, m.width + 6, h);
  ctx.fillStyle = color;
  ctx.fillText(text, x + 3, y - 4);
}

function paint() {
  const c = $('canvas');
  const ctx = c.getContext('2d');
  const [w, h] = canvasSize();
  ctx.fillStyle = '#101418';
  ctx.fillRect(0, 0, w, h);
  const l = layout();
  const still = S.stills[S.camera];
  if (still && l && l.stills && $('show-still').checked) {
    ctx.globalAlpha = 0.6;
    ctx.drawImage(still, 0, 0, w, h);
    ctx.globalAlpha = 1;
  }
  const f = S.frames[S.camera];
  const heat = S.heat[S.camera];
  if (heat && $('show-heat').checked) {
    const max = Math.max(1, ...heat.cells);
    const cw = w / heat.w,
      ch = h / heat.h;
    for (let y = 0; y < heat.h; y++) {
      for (let x = 0; x < heat.w; x++) {
        const v = heat.cells[y * heat.w + x];
        if (!v) continue;
        const t = Math.log1p(v) / Math.log1p(max);
        ctx.fillStyle = `hsla(${Math.round(60 - 60 * t)}, 100%, 50%, ${0.25 + 0.6 * t})`;
        ctx.fillRect(x * cw, y * ch, Math.ceil(cw), Math.ceil(ch));
      }
    }
  }
  if (l) {
    ctx.lineWidth = 2;
    for (const m of l.motion_masks) {
      poly(ctx, m, w, h);
      ctx.fillStyle = COLORS.motionMask;
      ctx.fill();
    }
    for (const m of l.masks) {
      const pts = m.map(toRel);
      if (pts.includes(null)) continue;
      poly(ctx, pts, w, h);
      ctx.fillStyle = COLORS.mask;
      ctx.fill();
      ctx.strokeStyle = '#bbb';
      ctx.stroke();
    }
    for (const z of l.zones) {
      const pts = z.points.map(toRel);
      if (pts.includes(null)) continue;
      poly(ctx, pts, w, h);
      ctx.fillStyle = 'rgba(52,199,89,0.12)';
      ctx.fill();
      ctx.strokeStyle = COLORS.zone;
      ctx.stroke();
      const inside = f && f.occupancy[z.name] !== undefined ? ` · ${f.occupancy[z.name]} inside` : '';
      label(ctx, z.name + inside, pts[0][0] * w, pts[0][1] * h, COLORS.zone, w);
    }
    for (const ln of l.lines) {
      const a = toRel(ln.a),
        b = toRel(ln.b);
      if (!a || !b) continue;
      ctx.strokeStyle = COLORS.line;
      ctx.lineWidth = 3;
      ctx.beginPath();
      ctx.moveTo(a[0] * w, a[1] * h);
      ctx.lineTo(b[0] * w, b[1] * h);
      ctx.stroke();
      lineArrows(ctx, a, b, ln.direction, w, h, COLORS.line);
      const n = f && f.lines[ln.name];
      label(ctx, ln.name + (n ? ` ${n[0]}/${n[1]}` : ''), a[0] * w, a[1] * h, COLORS.line, w);
    }
  }
  if (f) {
    if ($('show-motion').checked) {
      ctx.setLineDash([6, 4]);
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = COLORS.motion;
      for (const b of f.motion) ctx.strokeRect(b[0] * w, b[1] * h, (b[2] - b[0]) * w, (b[3] - b[1]) * h);
      ctx.strokeStyle = COLORS.region;
      ctx.setLineDash([2, 4]);
      for (const b of f.regions) ctx.strokeRect(b[0] * w, b[1] * h, (b[2] - b[0]) * w, (b[3] - b[1]) * h);
      ctx.setLineDash([]);
    }
    for (const t of f.tracks) {
      ctx.strokeStyle = COLORS.track;
      ctx.lineWidth = 2.5;
      const b = t.box;
      ctx.strokeRect(b[0] * w, b[1] * h, (b[2] - b[0]) * w, (b[3] - b[1]) * h);
      if (t.trail.length > 1) {
        ctx.beginPath();
        t.trail.forEach((p, i) => (i ? ctx.lineTo(p[0] * w, p[1] * h) : ctx.moveTo(p[0] * w, p[1] * h)));
        ctx.lineWidth = 2;
        ctx.stroke();
      }
      label(ctx, `${t.label} #${t.id} ${Math.round(t.score * 100)}%`, b[0] * w, b[1] * h, COLORS.track, w);
    }
  }
  paintDraft(ctx, w, h);
}

function paintDraft(ctx, w, h) {
  const d = S.draft;
  ctx.strokeStyle = COLORS.draft;
  ctx.fillStyle = COLORS.draft;
  ctx.lineWidth = 3;
  if (d.points.length > 1) {
    ctx.beginPath();
    d.points.forEach((p, i) => (i ? ctx.lineTo(p[0] * w, p[1] * h) : ctx.moveTo(p[0] * w, p[1] * h)));
    if (d.kind !== 'line' && d.points.length > 2) ctx.closePath();
    ctx.stroke();
  }
  if (d.kind === 'line' && d.points.length === 2) {
    lineArrows(ctx, d.points[0], d.points[1], $('direction').value, w, h, COLORS.draft);
  }
  d.points.forEach((p, i) => {
    ctx.beginPath();
    ctx.arc(p[0] * w, p[1] * h, 6, 0, 2 * Math.PI);
    ctx.fill();
    if (d.kind === 'line') label(ctx, i ? 'b' : 'a', p[0] * w + 8, p[1] * h, COLORS.draft, w);
  });
  if (document.activeElement === $('canvas')) {
    const [x, y] = [S.cursor[0] * w, S.cursor[1] * h];
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    ctx.moveTo(x - 12, y);
    ctx.lineTo(x + 12, y);
    ctx.moveTo(x, y - 12);
    ctx.lineTo(x, y + 12);
    ctx.stroke();
  }
}

// ---- editing ----

function maxPoints() {
  return S.draft.kind === 'line' ? 2 : 64;
}

function addPoint(p) {
  const d = S.draft;
  if (d.points.length >= maxPoints()) d.points = [];
  d.points.push([clamp(p[0]), clamp(p[1])]);
  changed();
}

const clamp = (v) => Math.min(1, Math.max(0, v));

function eventPoint(ev) {
  const r = $('canvas').getBoundingClientRect();
  return [(ev.clientX - r.left) / r.width, (ev.clientY - r.top) / r.height];
}

let dragging = null;

function onPointerDown(ev) {
  const p = eventPoint(ev);
  const r = $('canvas').getBoundingClientRect();
  const near = S.draft.points.findIndex(
    (q) => Math.hypot((q[0] - p[0]) * r.width, (q[1] - p[1]) * r.height) < 12
  );
  S.cursor = p;
  if (near >= 0) {
    dragging = near;
    $('canvas').setPointerCapture(ev.pointerId);
  } else {
    addPoint(p);
  }
  ev.preventDefault();
}

function onPointerMove(ev) {
  if (dragging === null) return;
  const p = eventPoint(ev);
  S.draft.points[dragging] = [clamp(p[0]), clamp(p[1])];
  S.cursor = p;
  draw();
}

function onPointerUp() {
  if (dragging !== null) {
    dragging = null;
    changed();
  }
}

function onKey(ev) {
  const step = ev.shiftKey ? 0.05 : 0.01;
  const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
  if (moves[ev.key]) {
    S.cursor = [clamp(S.cursor[0] + moves[ev.key][0]), clamp(S.cursor[1] + moves[ev.key][1])];
    draw();
  } else if (ev.key === 'Enter' || ev.key === ' ') {
    addPoint(S.cursor);
  } else if (ev.key === 'Backspace' || ev.key === 'Delete') {
    S.draft.points.pop();
    changed();
  } else if (ev.key === 'Escape') {
    S.draft.points = [];
    changed();
  } else {
    return;
  }
  ev.preventDefault();
}

function fillExisting() {
  const l = layout();
  const sel = $('existing');
  const kind = $('kind').value;
  const opts = [new Option('a new one', '')];
  if (l) {
    if (kind === 'line') l.lines.forEach((x) => opts.push(new Option(x.name, x.name)));
    if (kind === 'zone') l.zones.forEach((x) => opts.push(new Option(x.name, x.name)));
    if (kind === 'mask') l.masks.forEach((_, i) => opts.push(new Option(`mask ${i + 1}`, String(i))));
  }
  const keep = sel.value;
  sel.replaceChildren(...opts);
  if ([...sel.options].some((o) => o.value === keep)) sel.value = keep;
}

function loadExisting() {
  const l = layout();
  const v = $('existing').value;
  const d = S.draft;
  d.index = null;
  if (!l || v === '') {
    d.points = [];
  } else if (d.kind === 'line') {
    const x = l.lines.find((x) => x.name === v);
    d.points = x ? [toRel(x.a), toRel(x.b)].filter(Boolean) : [];
    $('name').value = v;
    if (x) $('direction').value = x.direction;
  } else if (d.kind === 'zone') {
    const x = l.zones.find((x) => x.name === v);
    d.points = x ? x.points.map(toRel).filter(Boolean) : [];
    $('name').value = v;
  } else {
    d.index = Number(v);
    d.points = (l.masks[d.index] || []).map(toRel).filter(Boolean);
  }
  changed();
}

// The edit as the server wants it: points in the file's units.
function edit(remove) {
  const l = layout();
  const size = frameSize();
  const pixels = l && l.units === 'pixels' && size;
  const d = S.draft;
  return {
    camera: S.camera,
    kind: d.kind,
    name: d.kind === 'mask' ? null : $('name').value.trim(),
    index: d.kind === 'mask' ? d.index : null,
    points: d.points.map((p) => (pixels ? [p[0] * size[0], p[1] * size[1]] : p)),
    direction: d.kind === 'line' ? $('direction').value : null,
    remove: !!remove,
  };
}

let checkTimer = null;
function changed() {
  draw();
  clearTimeout(checkTimer);
  checkTimer = setTimeout(check, 250);
}

async function post(path, body) {
  const r = await fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const type = r.headers.get('Content-Type') || '';
  return type.startsWith('application/json') ? r.json() : { error: await r.text() };
}

function showCheck(res) {
  S.lastCheck = res;
  $('snippet').textContent = res.snippet ? `- ${res.snippet}` : '';
  $('draw-error').textContent = res.error || '';
  $('save').disabled = !res.can_save;
  $('save').title = res.can_save ? '' : 'this run does not reload its file';
}

async function check() {
  if (!S.camera || S.draft.points.length === 0) {
    showCheck({ snippet: null, error: null, can_save: true });
    return;
  }
  try {
    showCheck(await post('/api/check', edit(false)));
  } catch (e) {
    showCheck({ error: String(e), can_save: false });
  }
}

async function save(remove) {
  $('draw-status').textContent = 'saving…';
  try {
    const res = await post('/api/save', edit(remove));
    showCheck(res);
    S.saved = res;
    $('draw-status').textContent = res.saved ? `saved: ${res.saved}` : 'not saved';
  } catch (e) {
    $('draw-status').textContent = `not saved: ${e}`;
  }
}

// ---- tabs ----

function show(which) {
  const live = which === 'live';
  $('overview').hidden = live;
  $('live').hidden = !live;
  $('tab-overview').setAttribute('aria-pressed', String(!live));
  $('tab-live').setAttribute('aria-pressed', String(live));
  if (live) draw();
}

function init() {
  $('tab-overview').addEventListener('click', () => show('overview'));
  $('tab-live').addEventListener('click', () => show('live'));
  $('camera').addEventListener('change', (e) => {
    S.camera = e.target.value;
    $('timeline').replaceChildren();
    S.events.filter((x) => x.camera === S.camera).forEach(addToTimeline);
    fillExisting();
    draw();
  });
  $('show-heat').addEventListener('change', draw);
  $('show-motion').addEventListener('change', draw);
  $('show-still').addEventListener('change', draw);
  $('kind').addEventListener('change', (e) => {
    S.draft = { kind: e.target.value, points: [], index: null };
    $('direction-label').hidden = S.draft.kind !== 'line';
    $('name').disabled = S.draft.kind === 'mask';
    fillExisting();
    changed();
  });
  $('existing').addEventListener('change', loadExisting);
  $('name').addEventListener('input', changed);
  $('direction').addEventListener('change', changed);
  $('clear').addEventListener('click', () => {
    S.draft.points = [];
    changed();
  });
  $('save').addEventListener('click', () => save(false));
  $('remove').addEventListener('click', () => save(true));
  const c = $('canvas');
  c.addEventListener('pointerdown', onPointerDown);
  c.addEventListener('pointermove', onPointerMove);
  c.addEventListener('pointerup', onPointerUp);
  c.addEventListener('keydown', onKey);
  c.addEventListener('focus', draw);
  c.addEventListener('blur', draw);
  window.addEventListener('resize', draw);
  if (location.hash === '#live') show('live');
  pollOverview();
  connect();
  refreshStill();
  draw();
}

init();
