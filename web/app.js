/*
 * app.js - the Spate dashboard: a single page over the JobManager's REST API (Flink's paths
 * and JSON shapes), in plain JavaScript with no framework, no build step and nothing
 * fetched from elsewhere. Routes live in the URL fragment (#/overview, #/job/<jid>, ...).
 *
 * Every view has a refresh() that reads the REST API and updates its DOM in place; it runs
 * again every `refresh-interval` ms (GET /config). Tables keep one row element per key and
 * the job graph is rebuilt only when its shape changes, so rows and boxes stay the same
 * elements across refreshes (clicks and test drivers' element references survive).
 *
 * Errors: the main resource of a view failing shows Flink's {"errors":[...]} text in the
 * banner at the top; a secondary resource (backpressure, metrics, a tab) failing shows its
 * error where its data would be. Refreshing never stops.
 *
 * Job graphs are laid out by layoutDag() below (longest-path layering, dummy nodes for
 * edges spanning layers, barycenter ordering): job graphs have a handful of vertices, and
 * a hundred lines of our own beat vendoring a general graph layout library.
 */
(function () {
	'use strict';

	const TERMINAL = new Set(['FINISHED', 'FAILED', 'CANCELED', 'SUSPENDED']);
	const SVG_NS = 'http://www.w3.org/2000/svg';

	const app = {
		config: null, /* GET /config, once it answered */
		refreshMs: 3000,
		timer: null,
		view: null, /* the current view: {key, node, refresh(), route?(params), leave?()} */
		gen: 0, /* bumped on every navigation; older refreshes do not touch the banner */
		drawer: null, /* {jid, vid} of the open vertex drawer */
	};

	/* ---- REST ---------------------------------------------------------------------- */

	class ApiError extends Error {
		constructor(status, message) {
			super(message);
			this.status = status;
		}
	}

	/* Calls the REST API (a path relative to the dashboard, so it works behind a prefix).
	 * Resolves to the parsed JSON (or the text when the body is not JSON); rejects with an
	 * ApiError carrying Flink's error text. */
	/* With rest.auth.token set, every API call needs "Authorization: Bearer <token>". The
	 * dashboard's own files are served without it; the token is asked for once, on the
	 * first 401, and kept for this browser tab only. */
	let authToken = sessionStorage.getItem('spate.token');
	let tokenAsked = false; /* ask once per page load, however many calls get a 401 */

	async function api(method, path, body, retried) {
		const opts = { method: method, cache: 'no-store', headers: {} };
		if (authToken)
			opts.headers['Authorization'] = 'Bearer ' + authToken;
		if (body instanceof FormData) {
			opts.body = body;
		} else if (body !== undefined) {
			opts.body = JSON.stringify(body);
			opts.headers['Content-Type'] = 'application/json';
		}
		let resp;
		try {
			resp = await fetch(path, opts);
		} catch (e) {
			throw new ApiError(0, method + ' /' + path + ': cannot reach the JobManager (' +
				e.message + ')');
		}
		if (resp.status === 401 && !retried && !tokenAsked) {
			tokenAsked = true;
			const t = window.prompt('This JobManager requires a token (rest.auth.token):');
			if (t) {
				authToken = t;
				sessionStorage.setItem('spate.token', t);
				return api(method, path, body, true);
			}
		}
		const text = await resp.text();
		let data = null;
		if (text) {
			try {
				data = JSON.parse(text);
			} catch (e) {
				data = null;
			}
		}
		if (!resp.ok) {
			let msg = resp.statusText || 'error';
			if (data && Array.isArray(data.errors) && data.errors.length)
				msg = data.errors.join('\n');
			else if (text && text.length < 500)
				msg = text;
			throw new ApiError(resp.status, method + ' /' + path + ' (' + resp.status + '): ' +
				msg);
		}
		return data !== null ? data : text;
	}

	const get = (path) => api('GET', path);

	/* A path segment for an id taken from the API or the URL. */
	const seg = (s) => encodeURIComponent(String(s));

	/* ---- DOM helpers ----------------------------------------------------------------- */

	function append(node, children) {
		for (const c of children.flat(Infinity)) {
			if (c === null || c === undefined || c === false)
				continue;
			node.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
		}
		return node;
	}

	function setAttrs(node, attrs) {
		if (!attrs)
			return node;
		for (const k of Object.keys(attrs)) {
			const v = attrs[k];
			if (k.startsWith('on') && typeof v === 'function')
				node.addEventListener(k.slice(2), v);
			else if (v === undefined || v === null || v === false)
				node.removeAttribute(k === 'class' ? 'class' : k);
			else
				node.setAttribute(k, v === true ? '' : String(v));
		}
		return node;
	}

	function h(tag, attrs, ...children) {
		return append(setAttrs(document.createElement(tag), attrs), children);
	}

	function svg(tag, attrs, ...children) {
		return append(setAttrs(document.createElementNS(SVG_NS, tag), attrs), children);
	}

	function setText(node, text) {
		text = String(text);
		if (node && node.textContent !== text)
			node.textContent = text;
	}

	function replace(node, ...children) {
		while (node.firstChild)
			node.removeChild(node.firstChild);
		return append(node, children);
	}

	const byId = (id) => document.getElementById(id);

	/* ---- formatting ------------------------------------------------------------------ */

	const DASH = '\u2014';

	function pad2(n) {
		return (n < 10 ? '0' : '') + n;
	}

	function fmtTime(ms) {
		if (typeof ms !== 'number' || ms <= 0)
			return DASH;
		const d = new Date(ms);
		return d.getFullYear() + '-' + pad2(d.getMonth() + 1) + '-' + pad2(d.getDate()) + ' ' +
			pad2(d.getHours()) + ':' + pad2(d.getMinutes()) + ':' + pad2(d.getSeconds());
	}

	function fmtDuration(ms) {
		if (typeof ms !== 'number' || ms < 0)
			return DASH;
		if (ms < 1000)
			return ms + ' ms';
		let s = Math.floor(ms / 1000);
		const d = Math.floor(s / 86400);
		s -= d * 86400;
		const hh = Math.floor(s / 3600);
		s -= hh * 3600;
		const m = Math.floor(s / 60);
		s -= m * 60;
		const parts = [];
		if (d)
			parts.push(d + 'd');
		if (d || hh)
			parts.push(hh + 'h');
		if (d || hh || m)
			parts.push(m + 'm');
		parts.push(s + 's');
		return parts.join(' ');
	}

	function fmtNum(n) {
		if (typeof n !== 'number' || !isFinite(n))
			return DASH;
		return n.toLocaleString('en-US');
	}

	function fmtBytes(n) {
		if (typeof n !== 'number' || !isFinite(n) || n < 0)
			return DASH;
		const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
		let i = 0;
		while (n >= 1024 && i < units.length - 1) {
			n /= 1024;
			i++;
		}
		return (i === 0 ? n : n.toFixed(n < 10 ? 2 : 1)) + ' ' + units[i];
	}

	function fmtPercent(r) {
		if (typeof r !== 'number' || !isFinite(r))
			return DASH;
		return Math.round(r * 100) + '%';
	}

	function stateBadge(state, attrs) {
		const s = state ? String(state) : 'UNKNOWN';
		return h('span', Object.assign({ class: 'state state-' + s }, attrs || {}), s);
	}

	/* "A -> B -> C": the operators of a chained job vertex. */
	function operatorsOf(name) {
		return String(name || '').split(' -> ').filter((s) => s.length > 0);
	}

	function truncate(s, n) {
		s = String(s);
		return s.length > n ? s.slice(0, n - 1) + '\u2026' : s;
	}

	/* ---- keyed tables ---------------------------------------------------------------- */

	/*
	 * A table whose rows are kept by key across updates. columns: [{title, num?, cell(item)
	 * -> string | Node | Node[]}]; opts: {id, key(item), rowAttrs?(item), onClick?(item),
	 * empty: text when there are no rows}.
	 */
	function keyedTable(columns, opts) {
		const tbody = h('tbody');
		const el = h('table', { id: opts.id, class: opts.class },
			h('thead', null, h('tr', null, columns.map((c) =>
				h('th', { class: c.num ? 'num' : null }, c.title)))),
			tbody);
		const rows = new Map();
		let emptyRow = null;

		function update(items) {
			const seen = new Set();
			items = items || [];
			if (items.length === 0) {
				if (!emptyRow)
					emptyRow = h('tr', { class: 'empty-row' },
						h('td', { class: 'empty', colspan: columns.length }, opts.empty || 'None'));
				tbody.appendChild(emptyRow);
			} else if (emptyRow && emptyRow.parentNode) {
				emptyRow.remove();
			}
			for (const item of items) {
				const key = String(opts.key(item));
				seen.add(key);
				let tr = rows.get(key);
				if (!tr) {
					tr = h('tr', { 'data-key': key });
					for (const c of columns)
						tr.appendChild(h('td', { class: c.num ? 'num' : null }));
					if (opts.onClick) {
						tr.classList.add('clickable');
						tr.addEventListener('click', (ev) => {
							if (ev.target.closest('a'))
								return; /* a link in the row does its own thing */
							opts.onClick(tr.item);
						});
					}
					rows.set(key, tr);
				}
				tr.item = item;
				if (opts.rowAttrs)
					setAttrs(tr, opts.rowAttrs(item));
				columns.forEach((c, i) => {
					const td = tr.children[i];
					const v = c.cell(item);
					if (v instanceof Node || Array.isArray(v)) {
						replace(td, v);
					} else {
						setText(td, v === undefined || v === null ? DASH : v);
					}
				});
				tbody.appendChild(tr); /* moves it into order */
			}
			for (const [key, tr] of rows) {
				if (!seen.has(key)) {
					tr.remove();
					rows.delete(key);
				}
			}
		}
		return { el, update };
	}

	/* A two-column key/value table from [[key, value], ...]. */
	function kvTable(id, pairs, empty) {
		const t = keyedTable([
			{ title: 'Key', cell: (p) => p[0] },
			{ title: 'Value', cell: (p) => p[1] },
		], { id: id, key: (p) => p[0], empty: empty || 'Nothing to show',
			rowAttrs: (p) => ({ 'data-config-key': p[0] }) });
		t.update(pairs);
		return t;
	}

	/* [[dotted.key, value], ...] of a nested object, for configuration-like objects. */
	function flatten(obj, prefix, out) {
		out = out || [];
		if (obj === null || typeof obj !== 'object') {
			out.push([prefix || 'value', obj === null ? 'null' : String(obj)]);
			return out;
		}
		const keys = Object.keys(obj);
		if (keys.length === 0 && prefix)
			out.push([prefix, Array.isArray(obj) ? '[]' : '{}']);
		for (const k of keys) {
			const v = obj[k];
			const key = prefix ? prefix + '.' + k : k;
			if (v !== null && typeof v === 'object')
				flatten(v, key, out);
			else
				out.push([key, v === null ? 'null' : String(v)]);
		}
		return out;
	}

	function kvList(pairs) {
		return h('dl', { class: 'kv' }, pairs.map((p) => [h('dt', null, p[0]),
			h('dd', p[2] ? { id: p[2] } : null, p[1])]));
	}

	function errorBox(id, message) {
		return h('div', { class: 'error', id: id }, message);
	}

	/* ---- layered DAG layout ---------------------------------------------------------- */

	/*
	 * Lays out a directed graph left to right. nodes: [{id, w, h}], edges: [{from, to}].
	 * Returns {pos: Map id -> {x, y}, routes: [[{x, y}, ...] per edge], width, height}.
	 * Layers by longest path from the sources (after turning any back edge around), so every
	 * edge points right; an edge spanning several layers gets a dummy node per layer it
	 * crosses; a few barycenter sweeps order each layer to reduce crossings; then each node
	 * moves toward its neighbours' mean height while keeping the order.
	 */
	function layoutDag(nodes, edges, opt) {
		opt = Object.assign({ gapX: 110, gapY: 28, margin: 16 }, opt || {});
		const N = new Map();
		nodes.forEach((n, i) => N.set(n.id, { id: n.id, w: n.w, h: n.h, idx: i, dummy: false,
			preds: [], succs: [] }));
		const es = edges.filter((e) => N.has(e.from) && N.has(e.to) && e.from !== e.to);

		/* Depth-first search: edges to a node on the stack close a cycle; reverse them. */
		const color = new Map();
		const reversed = new Set();
		const out = new Map();
		for (const n of N.keys())
			out.set(n, []);
		es.forEach((e, i) => out.get(e.from).push(i));
		function dfs(start) {
			const stack = [[start, 0]];
			color.set(start, 1);
			while (stack.length) {
				const top = stack[stack.length - 1];
				const list = out.get(top[0]);
				if (top[1] >= list.length) {
					color.set(top[0], 2);
					stack.pop();
					continue;
				}
				const ei = list[top[1]++];
				const to = es[ei].to;
				if (color.get(to) === 1)
					reversed.add(ei);
				else if (!color.get(to)) {
					color.set(to, 1);
					stack.push([to, 0]);
				}
			}
		}
		for (const n of N.keys())
			if (!color.get(n))
				dfs(n);
		const dir = es.map((e, i) => reversed.has(i) ? { from: e.to, to: e.from } :
			{ from: e.from, to: e.to });

		/* Longest-path layering in topological order (Kahn). */
		const indeg = new Map();
		for (const n of N.keys())
			indeg.set(n, 0);
		dir.forEach((e) => indeg.set(e.to, indeg.get(e.to) + 1));
		const layer = new Map();
		const queue = [];
		for (const n of N.values())
			if (indeg.get(n.id) === 0) {
				queue.push(n.id);
				layer.set(n.id, 0);
			}
		const succ = new Map();
		for (const n of N.keys())
			succ.set(n, []);
		dir.forEach((e) => succ.get(e.from).push(e.to));
		for (let qi = 0; qi < queue.length; qi++) {
			const u = queue[qi];
			for (const v of succ.get(u)) {
				layer.set(v, Math.max(layer.get(v) || 0, layer.get(u) + 1));
				indeg.set(v, indeg.get(v) - 1);
				if (indeg.get(v) === 0)
					queue.push(v);
			}
		}
		for (const n of N.keys())
			if (!layer.has(n))
				layer.set(n, 0); /* unreachable only if the cycle breaking failed */

		/* Segments between adjacent layers, through dummy nodes. */
		const chains = [];
		let dummies = 0;
		dir.forEach((e) => {
			const chain = [e.from];
			for (let l = layer.get(e.from) + 1; l < layer.get(e.to); l++) {
				const id = '\u0000dummy' + dummies++;
				N.set(id, { id: id, w: 8, h: 8, idx: nodes.length + dummies, dummy: true,
					preds: [], succs: [] });
				layer.set(id, l);
				chain.push(id);
			}
			chain.push(e.to);
			for (let i = 0; i + 1 < chain.length; i++) {
				N.get(chain[i]).succs.push(chain[i + 1]);
				N.get(chain[i + 1]).preds.push(chain[i]);
			}
			chains.push(chain);
		});

		const nlayers = Math.max(0, ...layer.values()) + 1;
		const layers = [];
		for (let l = 0; l < nlayers; l++)
			layers.push([]);
		for (const n of [...N.values()].sort((a, b) => a.idx - b.idx))
			layers[layer.get(n.id)].push(n.id);

		/* Barycenter ordering, alternating downward and upward sweeps. */
		const order = new Map();
		const renumber = (l) => layers[l].forEach((id, i) => order.set(id, i));
		for (let l = 0; l < nlayers; l++)
			renumber(l);
		function sweep(l, key) {
			const bary = new Map();
			for (const id of layers[l]) {
				const nb = N.get(id)[key];
				bary.set(id, nb.length ?
					nb.reduce((s, x) => s + order.get(x), 0) / nb.length : order.get(id));
			}
			layers[l].sort((a, b) => bary.get(a) - bary.get(b) || order.get(a) - order.get(b));
			renumber(l);
		}
		for (let it = 0; it < 6; it++) {
			if (it % 2 === 0)
				for (let l = 1; l < nlayers; l++)
					sweep(l, 'preds');
			else
				for (let l = nlayers - 2; l >= 0; l--)
					sweep(l, 'succs');
		}

		/* x: one column per layer, as wide as its widest node. */
		const colX = [];
		let x = opt.margin;
		for (let l = 0; l < nlayers; l++) {
			colX.push(x);
			x += Math.max(0, ...layers[l].map((id) => N.get(id).w)) + opt.gapX;
		}
		const width = x - opt.gapX + opt.margin;

		/* y: stack each layer, centred; then pull nodes toward their neighbours. */
		const cy = new Map();
		const layerHeight = (l) => layers[l].reduce((s, id) => s + N.get(id).h, 0) +
			opt.gapY * Math.max(0, layers[l].length - 1);
		const tallest = Math.max(0, ...layers.map((_, l) => layerHeight(l)));
		for (let l = 0; l < nlayers; l++) {
			let y = opt.margin + (tallest - layerHeight(l)) / 2;
			for (const id of layers[l]) {
				const n = N.get(id);
				cy.set(id, y + n.h / 2);
				y += n.h + opt.gapY;
			}
		}
		function relax(l, key) {
			const ids = layers[l];
			const want = ids.map((id) => {
				const nb = N.get(id)[key];
				return nb.length ? nb.reduce((s, x2) => s + cy.get(x2), 0) / nb.length :
					cy.get(id);
			});
			/* Keep the order and the gaps: push down, then pull back up from the bottom. */
			const y = want.slice();
			for (let i = 1; i < ids.length; i++) {
				const min = y[i - 1] + N.get(ids[i - 1]).h / 2 + opt.gapY + N.get(ids[i]).h / 2;
				if (y[i] < min)
					y[i] = min;
			}
			for (let i = ids.length - 2; i >= 0; i--) {
				const max = y[i + 1] - N.get(ids[i + 1]).h / 2 - opt.gapY - N.get(ids[i]).h / 2;
				if (y[i] > max)
					y[i] = Math.max(max, want[i] > max ? max : want[i]);
			}
			ids.forEach((id, i) => cy.set(id, y[i]));
		}
		for (let it = 0; it < 4; it++) {
			for (let l = 1; l < nlayers; l++)
				relax(l, 'preds');
			for (let l = nlayers - 2; l >= 0; l--)
				relax(l, 'succs');
		}
		/* Shift everything so the top edge is at the margin. */
		let top = Infinity, bottom = -Infinity;
		for (const [id, y] of cy) {
			top = Math.min(top, y - N.get(id).h / 2);
			bottom = Math.max(bottom, y + N.get(id).h / 2);
		}
		if (!isFinite(top)) {
			top = opt.margin;
			bottom = opt.margin;
		}
		const shift = opt.margin - top;
		const pos = new Map();
		for (const n of N.values()) {
			const l = layer.get(n.id);
			const colW = Math.max(0, ...layers[l].map((id) => N.get(id).w));
			pos.set(n.id, { x: colX[l] + (colW - n.w) / 2, y: cy.get(n.id) + shift - n.h / 2,
				w: n.w, h: n.h });
		}
		const routes = chains.map((chain, i) => {
			const pts = chain.map((id, k) => {
				const p = pos.get(id);
				if (k === 0)
					return { x: p.x + p.w, y: p.y + p.h / 2 };
				if (k === chain.length - 1)
					return { x: p.x, y: p.y + p.h / 2 };
				return { x: p.x + p.w / 2, y: p.y + p.h / 2 };
			});
			return reversed.has(i) ? pts.reverse() : pts;
		});
		const realPos = new Map();
		for (const n of nodes)
			realPos.set(n.id, pos.get(n.id));
		return { pos: realPos, routes: routes, width: width,
			height: bottom - top + 2 * opt.margin };
	}

	/* An SVG path through pts: horizontal-tangent cubic curves between consecutive points. */
	function curvePath(pts) {
		let d = 'M' + pts[0].x + ',' + pts[0].y;
		for (let i = 1; i < pts.length; i++) {
			const a = pts[i - 1], b = pts[i];
			const dx = (b.x - a.x) / 2;
			d += ' C' + (a.x + dx) + ',' + a.y + ' ' + (b.x - dx) + ',' + b.y + ' ' + b.x + ',' +
				b.y;
		}
		return d;
	}

	/* ---- job graphs ------------------------------------------------------------------ */

	/*
	 * The graph of a job (GET /jobs/:jid: vertices + plan) or of a plan alone (jar plan):
	 * {nodes: [{id, name, parallelism, vertex}], edges: [{from, to, label}]}. The plan's
	 * node list is Flink's plan.nodes (job vertices with inputs[].id and ship_strategy);
	 * plan.jobGraph.nodes is accepted too.
	 */
	function jobGraphModel(plan, vertices) {
		const lists = [];
		if (plan && Array.isArray(plan.nodes))
			lists.push(plan.nodes);
		if (plan && plan.jobGraph && Array.isArray(plan.jobGraph.nodes))
			lists.push(plan.jobGraph.nodes);
		let planNodes = null;
		let nodes;
		if (vertices && vertices.length) {
			const ids = new Set(vertices.map((v) => String(v.id)));
			planNodes = lists.find((l) => l.length && l.every((n) => ids.has(String(n.id))));
			nodes = vertices.map((v) => ({ id: String(v.id), name: v.name,
				parallelism: v.parallelism, vertex: v }));
		} else {
			/* Prefer the job vertices (string ids with inputs) over stream nodes. */
			planNodes = lists.slice().reverse().find((l) => l.length) || [];
			if (lists.length === 2 && lists[0].some((n) => Array.isArray(n.inputs)))
				planNodes = lists[0];
			nodes = planNodes.map((n) => ({ id: String(n.id),
				name: n.description || n.operator || n.contents || n.type || String(n.id),
				parallelism: n.parallelism, vertex: null }));
		}
		const known = new Set(nodes.map((n) => n.id));
		const edges = [];
		for (const n of planNodes || []) {
			for (const inp of n.inputs || n.predecessors || []) {
				const from = String(inp.id);
				if (known.has(from) && known.has(String(n.id)))
					edges.push({ from: from, to: String(n.id),
						label: inp.ship_strategy || inp.exchange || '' });
			}
		}
		return { nodes: nodes, edges: edges };
	}

	const BOX_W = 250;
	const LINE_H = 16;
	const OP_CHARS = 36;

	/* Draws a job graph into a fresh <svg>; returns {svg, boxes: Map id -> <g>}. onClick(id)
	 * is called for a click on a box (null for no clicks). */
	function drawJobGraph(model, id, onClick, withMetrics) {
		const metaLines = withMetrics ? 4 : 1;
		const gnodes = model.nodes.map((n) => ({ id: n.id, w: BOX_W,
			h: 14 + LINE_H * (Math.max(1, operatorsOf(n.name).length) + metaLines) }));
		const lay = layoutDag(gnodes, model.edges);
		const root = svg('svg', { id: id, class: 'dag', width: Math.ceil(lay.width),
			height: Math.ceil(lay.height), viewBox: '0 0 ' + Math.ceil(lay.width) + ' ' +
				Math.ceil(lay.height), 'data-vertex-count': model.nodes.length,
			'data-edge-count': model.edges.length });
		root.appendChild(svg('defs', null, svg('marker', { id: id + '-arrow', viewBox: '0 0 10 10',
			refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
		svg('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#7b8a97' }))));
		const edgeLayer = svg('g', { class: 'edges' });
		const labelLayer = svg('g', { class: 'edge-labels' });
		root.appendChild(edgeLayer);
		model.edges.forEach((e, i) => {
			const pts = lay.routes[i];
			edgeLayer.appendChild(svg('path', { class: 'edge', d: curvePath(pts),
				'marker-end': 'url(#' + id + '-arrow)', 'data-from': e.from, 'data-to': e.to,
				'data-ship-strategy': e.label }));
			if (e.label) {
				const a = pts[0], b = pts[1];
				const mx = (a.x + b.x) / 2, my = (a.y + b.y) / 2;
				const w = e.label.length * 6.4 + 10;
				labelLayer.appendChild(svg('g', { class: 'edge-label', 'data-from': e.from,
					'data-to': e.to },
				svg('rect', { x: mx - w / 2, y: my - 9, width: w, height: 16, rx: 3 }),
				svg('text', { x: mx, y: my + 3, 'text-anchor': 'middle' }, e.label)));
			}
		});
		const boxes = new Map();
		for (const n of model.nodes) {
			const p = lay.pos.get(n.id);
			const ops = operatorsOf(n.name);
			const g = svg('g', { class: 'vertex bp-unknown', 'data-vertex-id': n.id,
				'data-parallelism': n.parallelism, 'data-name': n.name,
				transform: 'translate(' + p.x + ',' + p.y + ')' },
			svg('title', null, n.name),
			svg('rect', { class: 'box', width: p.w, height: p.h, rx: 6, ry: 6 }));
			let y = 20;
			(ops.length ? ops : [n.name || n.id]).forEach((op, i) => {
				g.appendChild(svg('text', { class: 'op', x: 10, y: y, 'data-op-index': i },
					truncate(op, OP_CHARS)));
				y += LINE_H;
			});
			g.appendChild(svg('text', { class: 'meta', x: 10, y: y, 'data-field': 'parallelism' },
				'Parallelism: ' + n.parallelism));
			y += LINE_H;
			if (withMetrics) {
				for (const f of ['records-in', 'records-out', 'backpressure']) {
					g.appendChild(svg('text', { class: 'meta', x: 10, y: y, 'data-field': f }, ''));
					y += LINE_H;
				}
			}
			if (onClick)
				g.addEventListener('click', () => onClick(n.id));
			boxes.set(n.id, g);
			root.appendChild(g);
		}
		root.appendChild(labelLayer);
		return { svg: root, boxes: boxes };
	}

	function graphSignature(model) {
		return JSON.stringify([model.nodes.map((n) => [n.id, n.name, n.parallelism]),
			model.edges.map((e) => [e.from, e.to, e.label])]);
	}

	function metric(v, name) {
		return v && v.metrics && typeof v.metrics[name] === 'number' ? v.metrics[name] : null;
	}

	/* ---- views: overview and job lists ------------------------------------------------ */

	function card(label, id) {
		return h('div', { class: 'card' }, h('div', { class: 'label' }, label),
			h('div', { class: 'value', id: id }, DASH));
	}

	function tasksSummary(tasks) {
		if (!tasks)
			return DASH;
		const parts = [];
		for (const k of Object.keys(tasks)) {
			if (k === 'total' || !tasks[k])
				continue;
			parts.push(k.toLowerCase() + ' ' + tasks[k]);
		}
		const total = typeof tasks.total === 'number' ? tasks.total :
			Object.values(tasks).reduce((s, x) => s + (typeof x === 'number' ? x : 0), 0);
		return parts.join(', ') + (parts.length ? ' / ' : '') + total;
	}

	function jobsTable(id, empty) {
		return keyedTable([
			{ title: 'Job Name', cell: (j) => h('a', { href: '#/job/' + seg(j.jid) }, j.name || j.jid) },
			{ title: 'Job ID', cell: (j) => j.jid },
			{ title: 'Start Time', cell: (j) => fmtTime(j['start-time']) },
			{ title: 'Duration', cell: (j) => fmtDuration(j.duration) },
			{ title: 'End Time', cell: (j) => fmtTime(j['end-time']) },
			{ title: 'Tasks', cell: (j) => tasksSummary(j.tasks) },
			{ title: 'Status', cell: (j) => stateBadge(j.state) },
		], { id: id, key: (j) => j.jid, empty: empty,
			rowAttrs: (j) => ({ 'data-job-id': j.jid, 'data-job-state': j.state }),
			onClick: (j) => { location.hash = '#/job/' + seg(j.jid); } });
	}

	function splitJobs(data) {
		const jobs = (data && Array.isArray(data.jobs) ? data.jobs : []).slice();
		jobs.sort((a, b) => (b['start-time'] || 0) - (a['start-time'] || 0));
		return {
			running: jobs.filter((j) => !TERMINAL.has(j.state)),
			completed: jobs.filter((j) => TERMINAL.has(j.state)),
		};
	}

	function overviewView() {
		const running = jobsTable('running-jobs', 'No running jobs');
		const completed = jobsTable('completed-jobs', 'No completed jobs');
		const node = h('div', { id: 'overview-page' },
			h('h1', null, 'Overview'),
			h('div', { class: 'cards' },
				card('Task Managers', 'tm-count'),
				card('Total Slots', 'slots-total'),
				card('Available Slots', 'slots-available'),
				card('Running Jobs', 'jobs-running'),
				card('Finished Jobs', 'jobs-finished'),
				card('Canceled Jobs', 'jobs-cancelled'),
				card('Failed Jobs', 'jobs-failed')),
			h('h2', null, 'Running Jobs'), running.el,
			h('h2', null, 'Completed Jobs'), completed.el);
		return {
			key: 'overview', node: node, nav: 'nav-overview',
			async refresh() {
				const [ov, jobs] = await Promise.all([get('overview'), get('jobs/overview')]);
				setText(byId('tm-count'), fmtNum(ov.taskmanagers));
				setText(byId('slots-total'), fmtNum(ov['slots-total']));
				setText(byId('slots-available'), fmtNum(ov['slots-available']));
				setText(byId('jobs-running'), fmtNum(ov['jobs-running']));
				setText(byId('jobs-finished'), fmtNum(ov['jobs-finished']));
				setText(byId('jobs-cancelled'), fmtNum(ov['jobs-cancelled']));
				setText(byId('jobs-failed'), fmtNum(ov['jobs-failed']));
				const s = splitJobs(jobs);
				running.update(s.running);
				completed.update(s.completed);
			},
		};
	}

	function jobListView(which) {
		const t = jobsTable(which + '-jobs', which === 'running' ? 'No running jobs' :
			'No completed jobs');
		const node = h('div', { id: which + '-jobs-page' },
			h('h1', null, which === 'running' ? 'Running Jobs' : 'Completed Jobs'), t.el);
		return {
			key: 'jobs-' + which, node: node, nav: 'nav-' + which,
			async refresh() {
				t.update(splitJobs(await get('jobs/overview'))[which]);
			},
		};
	}

	/* ---- view: one job ----------------------------------------------------------------- */

	const JOB_TABS = [['overview', 'Overview'], ['exceptions', 'Exceptions'],
		['checkpoints', 'Checkpoints'], ['configuration', 'Configuration']];

	function jobView(jid, tab) {
		const base = 'jobs/' + seg(jid);
		let job = null;
		let graph = null; /* {sig, boxes} */
		const backpressure = new Map(); /* vid -> level | null */
		const backpressureError = new Map(); /* vid -> why it is unknown | null */
		const graphWrap = h('div', { class: 'graph-wrap', id: 'job-graph-wrap' });
		const vertexTable = keyedTable([
			{ title: 'Name', cell: (v) => v.name },
			{ title: 'Status', cell: (v) => stateBadge(v.status) },
			{ title: 'Parallelism', num: true, cell: (v) => fmtNum(v.parallelism) },
			{ title: 'Records Received', num: true, cell: (v) => fmtNum(metric(v, 'read-records')) },
			{ title: 'Records Sent', num: true, cell: (v) => fmtNum(metric(v, 'write-records')) },
			{ title: 'Bytes Received', num: true, cell: (v) => fmtBytes(metric(v, 'read-bytes')) },
			{ title: 'Bytes Sent', num: true, cell: (v) => fmtBytes(metric(v, 'write-bytes')) },
			{ title: 'Backpressure', cell: (v) => bpLabel(backpressure.get(v.id)) },
			{ title: 'Start Time', cell: (v) => fmtTime(v['start-time']) },
			{ title: 'Duration', cell: (v) => fmtDuration(v.duration) },
			{ title: 'Tasks', cell: (v) => tasksSummary(v.tasks) },
		], { id: 'vertex-table', key: (v) => v.id, empty: 'No vertices',
			rowAttrs: (v) => ({ 'data-vertex-id': v.id, 'data-parallelism': v.parallelism,
				'data-read-records': metric(v, 'read-records'),
				'data-write-records': metric(v, 'write-records') }),
			onClick: (v) => openVertex(jid, v.id) });
		const panels = {
			overview: h('div', { id: 'job-panel-overview' }, graphWrap, h('h2', null, 'Vertices'),
				vertexTable.el),
			exceptions: h('div', { id: 'job-panel-exceptions' }),
			checkpoints: h('div', { id: 'job-panel-checkpoints' }),
			configuration: h('div', { id: 'job-panel-configuration' }),
		};
		const tabs = h('div', { class: 'tabs', id: 'job-tabs' }, JOB_TABS.map((t) =>
			h('a', { href: '#/job/' + seg(jid) + '/' + t[0], id: 'tab-' + t[0],
				'data-tab': t[0] }, t[1])));
		const cancelBtn = h('button', { id: 'cancel-job', class: 'danger', type: 'button',
			hidden: true }, 'Cancel Job');
		const confirmBtn = h('button', { id: 'cancel-confirm', class: 'danger', type: 'button',
			hidden: true }, 'Yes, cancel this job');
		const cancelMsg = h('span', { id: 'cancel-status', class: 'muted' });
		cancelBtn.addEventListener('click', () => {
			confirmBtn.hidden = !confirmBtn.hidden;
		});
		confirmBtn.addEventListener('click', async () => {
			confirmBtn.hidden = true;
			cancelBtn.disabled = true;
			setText(cancelMsg, 'Cancelling\u2026');
			try {
				await api('PATCH', base + '?mode=cancel');
				setText(cancelMsg, 'Cancellation requested');
			} catch (e) {
				setText(cancelMsg, '');
				showError(e.message);
				cancelBtn.disabled = false;
			}
			kick();
		});
		const node = h('div', { id: 'job-page', 'data-job-id': jid },
			h('div', { class: 'job-head' },
				h('h1', { id: 'job-name' }, jid),
				h('span', { id: 'job-state', class: 'state' }, DASH),
				cancelBtn, confirmBtn, cancelMsg),
			kvList([['Job ID', jid, 'job-id'], ['Start Time', DASH, 'job-start'],
				['End Time', DASH, 'job-end'], ['Duration', DASH, 'job-duration'],
				['Max Parallelism', DASH, 'job-max-parallelism']]),
			tabs, Object.values(panels));

		function showTab() {
			for (const [name, el] of Object.entries(panels))
				el.hidden = name !== tab;
			for (const a of tabs.children)
				a.classList.toggle('active', a.dataset.tab === tab);
		}
		showTab();

		function bpLabel(level) {
			if (!level)
				return DASH;
			return h('span', { class: 'bp-' + level, 'data-backpressure': level }, level);
		}

		function updateGraph() {
			const model = jobGraphModel(job.plan, job.vertices || []);
			const sig = graphSignature(model);
			if (!graph || graph.sig !== sig) {
				const d = drawJobGraph(model, 'job-graph', (vid) => openVertex(jid, vid), true);
				graph = { sig: sig, boxes: d.boxes };
				replace(graphWrap, d.svg);
			}
			for (const v of job.vertices || []) {
				const g = graph.boxes.get(String(v.id));
				if (!g)
					continue;
				const rin = metric(v, 'read-records'), rout = metric(v, 'write-records');
				const level = backpressure.get(v.id) || 'unknown';
				setAttrs(g, { 'data-status': v.status, 'data-read-records': rin,
					'data-write-records': rout, 'data-backpressure': level,
					'data-backpressure-error': backpressureError.get(v.id) });
				for (const l of ['ok', 'low', 'high', 'unknown'])
					g.classList.toggle('bp-' + l, l === level);
				g.classList.toggle('selected', !!(app.drawer && app.drawer.vid === v.id));
				setText(g.querySelector('[data-field="records-in"]'), 'Records in: ' + fmtNum(rin));
				setText(g.querySelector('[data-field="records-out"]'), 'Records out: ' +
					fmtNum(rout));
				setText(g.querySelector('[data-field="backpressure"]'), 'Backpressure: ' +
					(level === 'unknown' ? DASH : level) + ' \u00b7 ' + (v.status || ''));
			}
		}

		async function refreshBackpressure() {
			const vs = job.vertices || [];
			if (job.state !== 'RUNNING') {
				for (const v of vs) {
					backpressure.set(v.id, null);
					backpressureError.set(v.id, null);
				}
				return;
			}
			const res = await Promise.allSettled(vs.map((v) =>
				get(base + '/vertices/' + seg(v.id) + '/backpressure')));
			vs.forEach((v, i) => {
				const r = res[i];
				backpressure.set(v.id, r.status === 'fulfilled' && r.value &&
					r.value.backpressureLevel ? r.value.backpressureLevel : null);
				backpressureError.set(v.id, r.status === 'rejected' ? r.reason.message : null);
			});
		}

		async function refreshExceptions() {
			const p = panels.exceptions;
			let data;
			try {
				data = await get(base + '/exceptions');
			} catch (e) {
				replace(p, errorBox('exceptions-error', e.message));
				return;
			}
			const hist = data && data.exceptionHistory;
			const entries = hist && Array.isArray(hist.entries) ? hist.entries : [];
			if (entries.length === 0 && data && data['root-exception']) {
				entries.push({ exceptionName: 'root exception', stacktrace: data['root-exception'],
					timestamp: data.timestamp });
			}
			const list = h('div', { id: 'exception-list', 'data-count': entries.length });
			if (entries.length === 0)
				list.appendChild(h('div', { class: 'empty', id: 'exceptions-empty' },
					'No exceptions'));
			entries.forEach((e, i) => {
				const open = p.querySelector('details[data-index="' + i + '"]');
				list.appendChild(h('details', { class: 'exception', 'data-index': i,
					open: open ? open.open : i === 0 },
				h('summary', null, fmtTime(e.timestamp), ' \u2014 ',
					h('strong', null, e.exceptionName || 'exception'),
					e.taskName ? ' in ' + e.taskName : '',
					e.endpoint ? ' (' + e.endpoint + ')' : '',
					e.taskManagerId ? h('span', null, ' on ',
						h('a', { href: '#/taskmanager/' + seg(e.taskManagerId) }, e.taskManagerId)) :
						''),
				h('pre', { class: 'trace' }, e.stacktrace || '')));
			});
			if (hist && hist.truncated)
				list.appendChild(h('div', { class: 'muted' }, 'Older exceptions were dropped.'));
			replace(p, list);
		}

		/*
		 * The checkpoints tab (GET .../checkpoints and .../checkpoints/config, Flink's
		 * CheckpointingStatistics and CheckpointConfigInfo): counts, the latest completed
		 * checkpoint, savepoint, failure and restore, a summary, the history and the
		 * configuration. Built once and updated in place; "No checkpoints yet" replaces the
		 * details while the job has none.
		 */
		let cp = null;

		function cpType(x) {
			if (x.checkpoint_type === 'SYNC_SAVEPOINT')
				return 'Savepoint (stop)';
			return x.is_savepoint ? 'Savepoint' : 'Checkpoint';
		}

		function cpPathOrFailure(x) {
			if (x.status === 'FAILED')
				return h('span', { class: 'error' }, x.failure_message || 'failed');
			if (!x.external_path)
				return DASH;
			return x.discarded ? h('span', { class: 'muted', title: 'discarded' },
				x.external_path + ' (discarded)') : x.external_path;
		}

		function checkpointsPanel(p) {
			const counts = h('div', { class: 'cards', id: 'checkpoint-counts' },
				[['Triggered', 'cp-total'], ['In Progress', 'cp-in-progress'],
					['Completed', 'cp-completed'], ['Failed', 'cp-failed'],
					['Restored', 'cp-restored']].map((x) => card(x[0], x[1])));
			const error = h('div', { class: 'error', id: 'checkpoints-error', hidden: true });
			const empty = h('p', { class: 'empty', id: 'checkpoints-empty' }, 'No checkpoints yet');
			const latest = keyedTable([
				{ title: 'Latest', cell: (r) => r.label },
				{ title: 'ID', num: true, cell: (r) => r.x ? String(r.x.id) : DASH },
				{ title: 'Time', cell: (r) => fmtTime(r.time) },
				{ title: 'End to End Duration', cell: (r) => r.x && r.kind !== 'restored' ?
					fmtDuration(r.x.end_to_end_duration) : DASH },
				{ title: 'Checkpointed Size', num: true, cell: (r) => r.x && r.kind !== 'restored' ?
					fmtBytes(r.x.checkpointed_size) : DASH },
				{ title: 'Full State Size', num: true, cell: (r) => r.x && r.kind !== 'restored' ?
					fmtBytes(r.x.state_size) : DASH },
				{ title: 'Path / Cause', cell: (r) => !r.x ? 'None' : r.kind === 'restored' ?
					(r.x.external_path || DASH) + (r.x.is_savepoint ? ' (savepoint)' : '') :
					cpPathOrFailure(r.x) },
			], { id: 'checkpoint-latest', key: (r) => r.kind,
				rowAttrs: (r) => ({ 'data-latest': r.kind, 'data-checkpoint-id': r.x ? r.x.id : null }) });
			const SUMMARY = [['end_to_end_duration', 'End to End Duration', fmtDuration],
				['checkpointed_size', 'Checkpointed Data Size', fmtBytes],
				['state_size', 'Full Checkpoint Data Size', fmtBytes],
				['processed_data', 'Processed (Persisted) In-Flight Data', fmtBytes]];
			const summary = keyedTable([
				{ title: 'Over the completed checkpoints in the history', cell: (r) => r[1] },
				{ title: 'Minimum', num: true, cell: (r) => r[2](r[3].min) },
				{ title: 'Average', num: true, cell: (r) => r[2](r[3].avg) },
				{ title: 'Maximum', num: true, cell: (r) => r[2](r[3].max) },
				{ title: '99th Percentile', num: true, cell: (r) => r[2](Math.round(r[3].p99)) },
			], { id: 'checkpoint-summary', key: (r) => r[0],
				rowAttrs: (r) => ({ 'data-stat': r[0] }) });
			const history = keyedTable([
				{ title: 'ID', num: true, cell: (x) => String(x.id) },
				{ title: 'Status', cell: (x) => stateBadge(x.status) },
				{ title: 'Type', cell: cpType },
				{ title: 'Triggered', cell: (x) => fmtTime(x.trigger_timestamp) },
				{ title: 'End to End Duration', cell: (x) => fmtDuration(x.end_to_end_duration) },
				{ title: 'Checkpointed Size', num: true, cell: (x) => fmtBytes(x.checkpointed_size) },
				{ title: 'Full State Size', num: true, cell: (x) => fmtBytes(x.state_size) },
				{ title: 'Acknowledged', num: true, cell: (x) => (x.num_acknowledged_subtasks || 0) +
					'/' + (x.num_subtasks || 0) },
				{ title: 'Path / Cause', cell: cpPathOrFailure },
			], { id: 'checkpoint-history', key: (x) => x.id, empty: 'No checkpoints yet',
				rowAttrs: (x) => ({ 'data-checkpoint-id': x.id, 'data-status': x.status,
					'data-type': x.checkpoint_type }) });
			const details = h('div', { id: 'checkpoint-details' },
				h('h2', null, 'Latest'), latest.el,
				h('h2', null, 'Summary'), summary.el,
				h('h2', null, 'History'), history.el);
			const config = keyedTable([
				{ title: 'Option', cell: (r) => r[0] },
				{ title: 'Value', cell: (r) => r[1] },
			], { id: 'checkpoint-config', key: (r) => r[2], empty: 'No configuration',
				rowAttrs: (r) => ({ 'data-config-key': r[2] }) });
			const cfgError = h('p', { class: 'muted', id: 'checkpoint-config-error', hidden: true });
			const slot = h('div'); /* holds either `empty` or `details` */
			replace(p, error, counts, slot, h('h2', null, 'Configuration'), cfgError, config.el);

			function configRows(c) {
				/* CheckpointConfigInfo; Long.MAX_VALUE (which JSON numbers round) is "off". */
				const periodic = typeof c.interval === 'number' && c.interval < 9e18;
				const ext = c.externalization || {};
				return [
					['Checkpointing Mode', String(c.mode || DASH).toUpperCase(), 'mode'],
					['Checkpoint Interval', periodic ? fmtDuration(c.interval) :
						'Periodic checkpoints disabled', 'interval'],
					['Checkpoint Timeout', fmtDuration(c.timeout), 'timeout'],
					['Minimum Pause Between Checkpoints', fmtDuration(c.min_pause), 'min_pause'],
					['Maximum Concurrent Checkpoints', String(c.max_concurrent), 'max_concurrent'],
					['Tolerable Failed Checkpoints', String(c.tolerable_failed_checkpoints),
						'tolerable_failed_checkpoints'],
					['Persist Checkpoints Externally', ext.enabled ? 'Enabled (' +
						(ext.delete_on_cancellation ? 'delete on cancellation' :
							'retain on cancellation') + ')' : 'Disabled', 'externalization'],
					['State Backend', String(c.state_backend || DASH), 'state_backend'],
					['Checkpoint Storage', String(c.checkpoint_storage || DASH), 'checkpoint_storage'],
					['Unaligned Checkpoints', c.unaligned_checkpoints ? 'Enabled' : 'Disabled',
						'unaligned_checkpoints'],
				];
			}

			return {
				error(message) {
					setText(error, message);
					error.hidden = false;
				},
				update(data, cfg, cfgErr) {
					error.hidden = true;
					const c = (data && data.counts) || {};
					setText(byId('cp-total'), fmtNum(c.total || 0));
					setText(byId('cp-in-progress'), fmtNum(c.in_progress || 0));
					setText(byId('cp-completed'), fmtNum(c.completed || 0));
					setText(byId('cp-failed'), fmtNum(c.failed || 0));
					setText(byId('cp-restored'), fmtNum(c.restored || 0));
					const hist = data && Array.isArray(data.history) ? data.history : [];
					const l = (data && data.latest) || {};
					const none = !c.total && !c.restored && hist.length === 0;
					const want = none ? empty : details;
					if (slot.firstChild !== want)
						replace(slot, want);
					if (!none) {
						latest.update([
							{ kind: 'completed', label: 'Completed Checkpoint', x: l.completed,
								time: l.completed && l.completed.latest_ack_timestamp },
							{ kind: 'savepoint', label: 'Savepoint', x: l.savepoint,
								time: l.savepoint && l.savepoint.latest_ack_timestamp },
							{ kind: 'failed', label: 'Failed Checkpoint', x: l.failed,
								time: l.failed && l.failed.failure_timestamp },
							{ kind: 'restored', label: 'Restore', x: l.restored,
								time: l.restored && l.restored.restore_timestamp },
						]);
						const s = (data && data.summary) || {};
						summary.update(SUMMARY.filter((r) => s[r[0]]).map((r) =>
							[r[0], r[1], r[2], s[r[0]]]));
						history.update(hist);
					}
					cfgError.hidden = !cfgErr;
					setText(cfgError, cfgErr || '');
					config.update(cfg ? configRows(cfg) : []);
				},
			};
		}

		async function refreshCheckpoints() {
			if (!cp)
				cp = checkpointsPanel(panels.checkpoints);
			let data;
			try {
				data = await get(base + '/checkpoints');
			} catch (e) {
				cp.error(e.message);
				return;
			}
			let cfg = null, cfgErr = null;
			try {
				cfg = await get(base + '/checkpoints/config');
			} catch (e) {
				cfgErr = e.message;
			}
			cp.update(data, cfg, cfgErr);
		}

		async function refreshConfiguration() {
			const p = panels.configuration;
			try {
				const data = await get(base + '/config');
				replace(p, kvTable('job-config-table', flatten(data), 'No configuration').el);
			} catch (e) {
				replace(p, errorBox('job-config-error', e.message));
			}
		}

		return {
			key: 'job:' + jid, node: node, nav: null,
			route(params) {
				if (params.tab !== tab) {
					tab = params.tab;
					showTab();
					kick();
				}
			},
			async refresh() {
				job = await get(base);
				setText(byId('job-name'), job.name || jid);
				const st = byId('job-state');
				setText(st, job.state || DASH);
				st.className = 'state state-' + (job.state || 'UNKNOWN');
				st.dataset.state = job.state || '';
				setText(byId('job-start'), fmtTime(job['start-time']));
				setText(byId('job-end'), fmtTime(job['end-time']));
				setText(byId('job-duration'), fmtDuration(job.duration));
				setText(byId('job-max-parallelism'), fmtNum(job.maxParallelism));
				const canCancel = features()['web-cancel'] && !TERMINAL.has(job.state);
				cancelBtn.hidden = !canCancel;
				if (!canCancel)
					confirmBtn.hidden = true;
				await refreshBackpressure();
				updateGraph();
				vertexTable.update(job.vertices || []);
				const work = [];
				if (app.drawer && app.drawer.jid === jid)
					work.push(refreshDrawer(job));
				if (tab === 'exceptions')
					work.push(refreshExceptions());
				else if (tab === 'checkpoints')
					work.push(refreshCheckpoints());
				else if (tab === 'configuration')
					work.push(refreshConfiguration());
				await Promise.all(work);
			},
			leave() {
				closeDrawer();
			},
		};
	}

	/* ---- the vertex drawer -------------------------------------------------------------- */

	function openVertex(jid, vid) {
		app.drawer = { jid: jid, vid: vid, subtasks: null };
		const body = byId('drawer-body');
		replace(body, h('p', { class: 'muted' }, 'Loading\u2026'));
		setText(byId('drawer-title'), vid);
		const d = byId('drawer');
		d.hidden = false;
		d.dataset.vertexId = vid;
		for (const g of document.querySelectorAll('svg.dag .vertex'))
			g.classList.toggle('selected', g.dataset.vertexId === vid);
		for (const tr of document.querySelectorAll('#vertex-table tr[data-vertex-id]'))
			tr.classList.toggle('selected', tr.dataset.vertexId === vid);
		kick();
	}

	function closeDrawer() {
		app.drawer = null;
		const d = byId('drawer');
		d.hidden = true;
		delete d.dataset.vertexId;
		for (const el of document.querySelectorAll('.selected'))
			el.classList.remove('selected');
	}

	async function refreshDrawer(job) {
		const dr = app.drawer;
		const vid = dr.vid;
		const base = 'jobs/' + seg(dr.jid) + '/vertices/' + seg(vid);
		const v = (job.vertices || []).find((x) => x.id === vid) || { id: vid };
		setText(byId('drawer-title'), v.name || vid);
		if (!dr.subtasks) {
			dr.subtasks = keyedTable([
				{ title: 'Subtask', num: true, cell: (s) => String(s.subtask) },
				{ title: 'Status', cell: (s) => stateBadge(s.status) },
				{ title: 'Attempt', num: true, cell: (s) => String(s.attempt) },
				{ title: 'Backpressure', cell: (s) => {
					const b = dr.bp && dr.bp.get(s.subtask);
					return b ? h('span', { class: 'bp-' + b.backpressureLevel,
						'data-backpressure': b.backpressureLevel }, b.backpressureLevel + ' (' +
						fmtPercent(b.ratio) + ')') : DASH;
				} },
				{ title: 'Busy', num: true, cell: (s) => {
					const b = dr.bp && dr.bp.get(s.subtask);
					return b ? fmtPercent(b.busyRatio) : DASH;
				} },
				{ title: 'Records Received', num: true, cell: (s) => fmtNum(metric(s, 'read-records')) },
				{ title: 'Records Sent', num: true, cell: (s) => fmtNum(metric(s, 'write-records')) },
				{ title: 'Bytes Received', num: true, cell: (s) => fmtBytes(metric(s, 'read-bytes')) },
				{ title: 'Bytes Sent', num: true, cell: (s) => fmtBytes(metric(s, 'write-bytes')) },
				{ title: 'TaskManager', cell: (s) => s['taskmanager-id'] ?
					h('a', { href: '#/taskmanager/' + seg(s['taskmanager-id']) }, s['taskmanager-id']) :
					DASH },
				{ title: 'Endpoint', cell: (s) => s.endpoint || s.host || DASH },
				{ title: 'Start Time', cell: (s) => fmtTime(s['start-time']) },
				{ title: 'Duration', cell: (s) => fmtDuration(s.duration) },
			], { id: 'subtask-table', key: (s) => s.subtask, empty: 'No subtasks',
				rowAttrs: (s) => ({ 'data-subtask': s.subtask, 'data-status': s.status,
					'data-taskmanager-id': s['taskmanager-id'] }) });
			dr.summary = h('div', { id: 'vertex-summary' });
			dr.error = h('div', { id: 'drawer-error', class: 'error' });
			dr.bpInfo = h('div', { id: 'vertex-backpressure' });
			dr.metrics = h('div', { id: 'vertex-metrics' });
			replace(byId('drawer-body'), dr.summary, dr.error,
				h('h2', null, 'Subtasks'), dr.subtasks.el,
				h('h2', null, 'Backpressure'), dr.bpInfo,
				h('h2', null, 'Metrics'), dr.metrics);
		}
		const [det, bp, mlist] = await Promise.allSettled([get(base), get(base + '/backpressure'),
			get(base + '/metrics')]);
		if (app.drawer !== dr)
			return; /* closed or another vertex opened meanwhile */
		const errors = [];
		replace(dr.summary, kvList([['Vertex ID', vid, 'drawer-vertex-id'],
			['Parallelism', fmtNum(v.parallelism), 'drawer-parallelism'],
			['Status', v.status || DASH, 'drawer-status'],
			['Operators', operatorsOf(v.name).join(' \u2192 ') || DASH]]));
		dr.bp = new Map();
		if (bp.status === 'fulfilled' && bp.value) {
			for (const s of bp.value.subtasks || [])
				dr.bp.set(s.subtask, s);
			const level = bp.value.backpressureLevel || DASH;
			replace(dr.bpInfo, h('span', { class: 'bp-' + level, id: 'vertex-backpressure-level',
				'data-backpressure': level }, level),
			h('span', { class: 'muted' }, ' \u00b7 sampled ' + fmtTime(bp.value['end-timestamp'])));
		} else {
			replace(dr.bpInfo, h('span', { class: 'muted' }, bp.reason ? bp.reason.message : DASH));
		}
		if (det.status === 'fulfilled' && det.value) {
			dr.subtasks.update(det.value.subtasks || []);
		} else {
			errors.push(det.reason.message);
		}
		if (mlist.status === 'fulfilled' && Array.isArray(mlist.value)) {
			const ids = mlist.value.map((m) => m.id).filter((x) => typeof x === 'string').sort()
				.slice(0, 80);
			let values = [];
			if (ids.length) {
				try {
					values = await get(base + '/metrics?get=' + ids.map(encodeURIComponent).join(','));
				} catch (e) {
					errors.push(e.message);
				}
			}
			if (app.drawer !== dr)
				return;
			const rows = (Array.isArray(values) ? values : []).map((m) => [m.id, String(m.value)]);
			replace(dr.metrics, kvTable('vertex-metrics-table', rows, 'No metrics').el);
		} else {
			replace(dr.metrics, h('span', { class: 'muted' }, mlist.reason ? mlist.reason.message :
				'No metrics'));
		}
		setText(dr.error, errors.join('\n'));
	}

	/* ---- views: TaskManagers ------------------------------------------------------------ */

	function hardware(tm, key) {
		return tm && tm.hardware ? tm.hardware[key] : undefined;
	}

	function taskManagersView() {
		const t = keyedTable([
			{ title: 'ID', cell: (tm) => h('a', { href: '#/taskmanager/' + seg(tm.id) }, tm.id) },
			{ title: 'Path', cell: (tm) => tm.path },
			{ title: 'Data Port', num: true, cell: (tm) => String(tm.dataPort) },
			{ title: 'Last Heartbeat', cell: (tm) => typeof tm.timeSinceLastHeartbeat === 'number' ?
				fmtDuration(tm.timeSinceLastHeartbeat) + ' ago' : DASH },
			{ title: 'All Slots', num: true, cell: (tm) => fmtNum(tm.slotsNumber) },
			{ title: 'Free Slots', num: true, cell: (tm) => fmtNum(tm.freeSlots) },
			{ title: 'CPU Cores', num: true, cell: (tm) => fmtNum(hardware(tm, 'cpuCores')) },
			{ title: 'Physical Memory', num: true, cell: (tm) => fmtBytes(hardware(tm, 'physicalMemory')) },
			{ title: 'Free Memory', num: true, cell: (tm) => fmtBytes(hardware(tm, 'freeMemory')) },
		], { id: 'tm-table', key: (tm) => tm.id, empty: 'No TaskManagers registered',
			rowAttrs: (tm) => ({ 'data-tm-id': tm.id, 'data-slots': tm.slotsNumber,
				'data-free-slots': tm.freeSlots }),
			onClick: (tm) => { location.hash = '#/taskmanager/' + seg(tm.id); } });
		const node = h('div', { id: 'taskmanagers-page' }, h('h1', null, 'Task Managers'), t.el);
		return {
			key: 'taskmanagers', node: node, nav: 'nav-taskmanagers',
			async refresh() {
				const d = await get('taskmanagers');
				const tms = (d && d.taskmanagers) || [];
				tms.sort((a, b) => String(a.id).localeCompare(String(b.id)));
				t.update(tms);
			},
		};
	}

	/* A log viewer that keeps the reader's place: it follows the end only if it was there. */
	function logViewer(id) {
		const pre = h('pre', { class: 'log', id: id });
		return {
			el: pre,
			set(text) {
				const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
				if (pre.textContent !== text) {
					pre.textContent = text;
					if (atEnd)
						pre.scrollTop = pre.scrollHeight;
				}
			},
		};
	}

	function logList(id, hrefOf) {
		return keyedTable([
			{ title: 'Log', cell: (l) => h('a', { href: hrefOf(l.name), 'data-log-name': l.name },
				l.name) },
			{ title: 'Size', num: true, cell: (l) => fmtBytes(l.size) },
			{ title: 'Modified', cell: (l) => fmtTime(l.mtime) },
		], { id: id, key: (l) => l.name, empty: 'No logs',
			rowAttrs: (l) => ({ 'data-log-name': l.name }) });
	}

	function isByteMetric(key) {
		return /(Used|Max|Committed|Total|Available|Memory|Heap|Size|Bytes|rss)$/i.test(key) &&
			!/Segments|Buffers|Count/i.test(key);
	}

	function taskManagerView(tmid, logName) {
		const base = 'taskmanagers/' + seg(tmid);
		const tmHref = '#/taskmanager/' + seg(tmid);
		const slots = keyedTable([
			{ title: 'Slot', num: true, cell: (s) => String(s._index) },
			{ title: 'Job', cell: (s) => s.jobId ? h('a', { href: '#/job/' + seg(s.jobId) },
				s.jobId) : DASH },
			{ title: 'Assigned Tasks', num: true, cell: (s) => fmtNum(s.assignedTasks) },
			{ title: 'Subtasks', cell: (s) => slotTasks(s) },
			{ title: 'Resource', cell: (s) => s.resource ? flatten(s.resource).filter((p) =>
				p[1] !== '0' && p[1] !== '{}').map((p) => p[0] + '=' + p[1]).join(', ') || DASH : DASH },
		], { id: 'tm-slot-table', key: (s) => s._index, empty: 'No allocated slots',
			rowAttrs: (s) => ({ 'data-slot-index': s._index, 'data-job-id': s.jobId }) });
		const logs = logList('tm-logs', (name) => tmHref + '/logs/' + seg(name));
		const viewer = logViewer('log-content');
		const info = h('div', { id: 'tm-info' });
		const metrics = h('div', { id: 'tm-metrics-wrap' });
		const logsWrap = h('div', { id: 'tm-logs-wrap' }, logs.el);
		const node = logName ?
			h('div', { id: 'taskmanager-log-page', 'data-tm-id': tmid },
				h('h1', null, h('a', { href: tmHref }, tmid), ' \u203a ', logName),
				h('div', { id: 'log-error', class: 'error' }), viewer.el) :
			h('div', { id: 'taskmanager-page', 'data-tm-id': tmid },
				h('h1', null, 'Task Manager ', h('span', { id: 'tm-title' }, tmid)),
				info,
				h('h2', null, 'Slots'), slots.el,
				h('h2', null, 'Metrics'), metrics,
				h('h2', null, 'Logs'), logsWrap);

		function slotTasks(s) {
			/* Flink's SlotInfo names the job and a count; an entry may also list its tasks. */
			const list = s.tasks || s.subtasks || s.assignedSubtasks;
			if (!Array.isArray(list) || list.length === 0)
				return DASH;
			return list.map((t) => typeof t === 'object' ?
				(t.name || t.vertexName || t.taskName || t.vertexId || '') +
				(t.subtask !== undefined ? ' (' + (t.subtask + 1) + '/' +
					(t.parallelism || '?') + ')' : '') : String(t)).join(', ');
		}

		return {
			key: 'tm:' + tmid + ':' + (logName || ''), node: node, nav: 'nav-taskmanagers',
			async refresh() {
				if (logName) {
					try {
						viewer.set(await get(base + '/logs/' + seg(logName)));
						setText(byId('log-error'), '');
					} catch (e) {
						setText(byId('log-error'), e.message);
					}
					return;
				}
				const [tm, lg] = await Promise.all([get(base), get(base + '/logs').catch((e) => e)]);
				const mem = tm.memoryConfiguration || {};
				replace(info, kvList([
					['ID', tm.id, 'tm-id'],
					['Path', tm.path || DASH, 'tm-path'],
					['Data Port', String(tm.dataPort), 'tm-data-port'],
					['Last Heartbeat', typeof tm.timeSinceLastHeartbeat === 'number' ?
						fmtDuration(tm.timeSinceLastHeartbeat) + ' ago' : DASH, 'tm-heartbeat'],
					['All Slots', fmtNum(tm.slotsNumber), 'tm-slots'],
					['Free Slots', fmtNum(tm.freeSlots), 'tm-free-slots'],
					['CPU Cores', fmtNum(hardware(tm, 'cpuCores')), 'tm-cpu-cores'],
					['Physical Memory', fmtBytes(hardware(tm, 'physicalMemory')), 'tm-physical-memory'],
					['Free Memory', fmtBytes(hardware(tm, 'freeMemory')), 'tm-free-memory'],
					['Managed Memory', fmtBytes(hardware(tm, 'managedMemory') || mem.managedMemory)],
					['Network Memory', fmtBytes(mem.networkMemory)],
				]));
				const alloc = Array.isArray(tm.allocatedSlots) ? tm.allocatedSlots : [];
				slots.update(alloc.map((s, i) => Object.assign({ _index: i }, s)));
				const m = tm.metrics && typeof tm.metrics === 'object' ? tm.metrics : null;
				if (m) {
					const rows = flatten(m).map((p) => {
						const n = Number(p[1]);
						if (/^(updated|.*Timestamp)$/.test(p[0]) && n > 1e12)
							return [p[0], fmtTime(n)];
						return [p[0], isByteMetric(p[0]) && isFinite(n) ? fmtBytes(n) : p[1]];
					});
					replace(metrics, kvTable('tm-metrics', rows, 'No metrics').el);
				} else {
					replace(metrics, h('p', { class: 'muted', id: 'tm-metrics' }, 'No metrics reported'));
				}
				if (lg instanceof Error) {
					replace(logsWrap, errorBox('tm-logs-error', lg.message));
				} else {
					logs.update((lg && lg.logs) || []);
					if (!logs.el.parentNode)
						replace(logsWrap, logs.el);
				}
			},
		};
	}

	/* ---- view: JobManager -------------------------------------------------------------- */

	function jobManagerView(logName) {
		const viewer = logViewer('log-content');
		const logs = logList('jm-logs', (name) => '#/jobmanager/logs/' + seg(name));
		const cfg = keyedTable([
			{ title: 'Key', cell: (e) => e.key },
			{ title: 'Value', cell: (e) => e.value },
		], { id: 'jm-config', key: (e) => e.key, empty: 'No configuration',
			rowAttrs: (e) => ({ 'data-config-key': e.key }) });
		const logsWrap = h('div', { id: 'jm-logs-wrap' }, logs.el);
		const node = logName ?
			h('div', { id: 'jobmanager-log-page' },
				h('h1', null, h('a', { href: '#/jobmanager' }, 'Job Manager'), ' \u203a ', logName),
				h('div', { id: 'log-error', class: 'error' }), viewer.el) :
			h('div', { id: 'jobmanager-page' }, h('h1', null, 'Job Manager'),
				h('h2', null, 'Configuration'), cfg.el, h('h2', null, 'Logs'), logsWrap);
		return {
			key: 'jm:' + (logName || ''), node: node, nav: 'nav-jobmanager',
			async refresh() {
				if (logName) {
					try {
						viewer.set(await get('jobmanager/logs/' + seg(logName)));
						setText(byId('log-error'), '');
					} catch (e) {
						setText(byId('log-error'), e.message);
					}
					return;
				}
				const [c, lg] = await Promise.all([get('jobmanager/config'),
					get('jobmanager/logs').catch((e) => e)]);
				const entries = Array.isArray(c) ? c.slice() : [];
				entries.sort((a, b) => String(a.key).localeCompare(String(b.key)));
				cfg.update(entries);
				if (lg instanceof Error) {
					replace(logsWrap, errorBox('jm-logs-error', lg.message));
				} else {
					logs.update((lg && lg.logs) || []);
					if (!logs.el.parentNode)
						replace(logsWrap, logs.el);
				}
			},
		};
	}

	/* ---- view: submit a job ------------------------------------------------------------- */

	/* Program arguments as a shell would split them: whitespace, '...', "..." and \x. */
	function splitArgs(s) {
		const out = [];
		let cur = '', inArg = false, quote = null;
		for (let i = 0; i < s.length; i++) {
			const c = s[i];
			if (quote) {
				if (c === quote)
					quote = null;
				else if (c === '\\' && quote === '"' && i + 1 < s.length &&
					'"\\$`'.includes(s[i + 1]))
					cur += s[++i];
				else
					cur += c;
			} else if (c === '"' || c === '\'') {
				quote = c;
				inArg = true;
			} else if (c === '\\' && i + 1 < s.length) {
				cur += s[++i];
				inArg = true;
			} else if (/\s/.test(c)) {
				if (inArg)
					out.push(cur);
				cur = '';
				inArg = false;
			} else {
				cur += c;
				inArg = true;
			}
		}
		if (inArg)
			out.push(cur);
		return out;
	}

	function submitView() {
		let selected = null; /* jar id */
		let jars = [];
		const status = h('span', { id: 'upload-status', class: 'muted' });
		const fileInput = h('input', { type: 'file', id: 'jar-file', accept: '.so' });
		const list = keyedTable([
			{ title: 'Name', cell: (j) => j.name },
			{ title: 'Uploaded', cell: (j) => fmtTime(j.uploaded) },
			{ title: 'Entry Points', cell: (j) => (j.entry || []).map((e) => e.name).join(', ') ||
				DASH },
		], { id: 'jar-list', key: (j) => j.id, empty: 'No uploaded job libraries',
			rowAttrs: (j) => ({ 'data-jar-id': j.id, 'data-jar-name': j.name,
				class: 'clickable' + (j.id === selected ? ' selected' : '') }),
			onClick: (j) => select(j.id) });
		const entry = h('select', { id: 'jar-entry' });
		const par = h('input', { type: 'number', id: 'jar-parallelism', min: 1,
			placeholder: 'default' });
		const args = h('input', { type: 'text', id: 'jar-args', size: 60,
			placeholder: '--input /path/in.txt --output /path/out' });
		const planBtn = h('button', { type: 'button', id: 'jar-plan' }, 'Show Plan');
		const runBtn = h('button', { type: 'button', id: 'jar-run', class: 'primary' }, 'Submit');
		const delBtn = h('button', { type: 'button', id: 'jar-delete', class: 'danger' }, 'Delete');
		const jarName = h('span', { id: 'jar-selected' });
		const result = h('div', { id: 'jar-result', class: 'error' });
		const planView = h('div', { id: 'jar-plan-view' });
		const form = h('form', { class: 'submit-form', id: 'jar-form', hidden: true,
			onsubmit: (e) => e.preventDefault() },
		h('label', null, 'Job library'), jarName,
		h('label', { for: 'jar-entry' }, 'Entry point'), entry,
		h('label', { for: 'jar-parallelism' }, 'Parallelism'), par,
		h('label', { for: 'jar-args' }, 'Program arguments'), args,
		h('div', { class: 'actions' }, planBtn, runBtn, delBtn));
		const enabled = features()['web-submit'];
		const node = enabled ?
			h('div', { id: 'submit-page' }, h('h1', null, 'Submit New Job'),
				h('div', { class: 'upload' }, h('label', { for: 'jar-file' },
					'Upload a job library (.so):'), fileInput, status),
				list.el, form, result, planView) :
			h('div', { id: 'submit-page' }, h('h1', null, 'Submit New Job'),
				h('p', { class: 'muted', id: 'submit-disabled' },
					'Job submission from the dashboard is disabled (web.submit.enable: false).'));

		function select(id) {
			selected = id;
			const jar = jars.find((j) => j.id === id);
			if (!jar) {
				form.hidden = true;
				return;
			}
			form.hidden = false;
			form.dataset.jarId = id;
			setText(jarName, jar.name);
			replace(entry, (jar.entry && jar.entry.length ? jar.entry : [{ name: '' }]).map((e) =>
				h('option', { value: e.name, title: e.description || '' }, e.name || '(default)')));
			setText(result, '');
			replace(planView);
			for (const tr of list.el.querySelectorAll('tr[data-jar-id]'))
				tr.classList.toggle('selected', tr.dataset.jarId === id);
		}

		function request() {
			const body = { programArgsList: splitArgs(args.value) };
			if (entry.value)
				body.entryClass = entry.value;
			const p = parseInt(par.value, 10);
			if (p > 0)
				body.parallelism = p;
			return body;
		}

		async function upload() {
			const f = fileInput.files && fileInput.files[0];
			if (!f)
				return;
			const fd = new FormData();
			fd.append('jarfile', f, f.name);
			setText(status, 'Uploading ' + f.name + '\u2026');
			status.dataset.state = 'uploading';
			try {
				const r = await api('POST', 'jars/upload', fd);
				setText(status, 'Uploaded ' + f.name);
				status.dataset.state = 'done';
				const id = r && r.filename ? String(r.filename).split('/').pop() : null;
				await reload();
				if (id)
					select(id);
			} catch (e) {
				setText(status, e.message);
				status.dataset.state = 'error';
			}
			fileInput.value = '';
		}

		async function reload() {
			const d = await get('jars');
			jars = (d && Array.isArray(d.files)) ? d.files.slice() : [];
			jars.sort((a, b) => (b.uploaded || 0) - (a.uploaded || 0));
			list.update(jars);
			if (selected && !jars.some((j) => j.id === selected)) {
				selected = null;
				form.hidden = true;
			}
		}

		if (enabled) {
			fileInput.addEventListener('change', upload);
			planBtn.addEventListener('click', async () => {
				if (!selected)
					return;
				setText(result, '');
				const path = 'jars/' + seg(selected) + '/plan';
				const body = request();
				let r;
				try {
					try {
						r = await api('POST', path, body);
					} catch (e) {
						if (e.status !== 405)
							throw e;
						/* GET with query parameters, as older servers take it */
						const q = new URLSearchParams();
						if (body.entryClass)
							q.set('entry-class', body.entryClass);
						if (body.parallelism)
							q.set('parallelism', String(body.parallelism));
						if (body.programArgsList.length)
							q.set('programArg', body.programArgsList.join(','));
						r = await get(path + '?' + q.toString());
					}
				} catch (e) {
					setText(result, e.message);
					return;
				}
				const model = jobGraphModel(r && r.plan ? r.plan : r, null);
				replace(planView, h('h2', null, 'Plan'), h('div', { class: 'graph-wrap' },
					drawJobGraph(model, 'jar-plan-graph', null, false).svg));
			});
			runBtn.addEventListener('click', async () => {
				if (!selected)
					return;
				setText(result, '');
				runBtn.disabled = true;
				try {
					const r = await api('POST', 'jars/' + seg(selected) + '/run', request());
					if (!r || !r.jobid)
						throw new Error('the JobManager did not return a job id');
					location.hash = '#/job/' + seg(r.jobid);
				} catch (e) {
					setText(result, e.message);
				} finally {
					runBtn.disabled = false;
				}
			});
			delBtn.addEventListener('click', async () => {
				if (!selected)
					return;
				setText(result, '');
				try {
					await api('DELETE', 'jars/' + seg(selected));
					selected = null;
					form.hidden = true;
					replace(planView);
					await reload();
				} catch (e) {
					setText(result, e.message);
				}
			});
		}

		return {
			key: 'submit', node: node, nav: 'nav-submit',
			async refresh() {
				if (enabled)
					await reload();
			},
		};
	}

	function notFoundView(hash) {
		return {
			key: 'notfound', node: h('div', { id: 'not-found' }, h('h1', null, 'Not found'),
				h('p', null, 'No page for ', h('code', null, hash), '. ',
					h('a', { href: '#/overview' }, 'Overview'))),
			nav: null,
			async refresh() {},
		};
	}

	/* ---- routing and the refresh loop --------------------------------------------------- */

	function features() {
		return (app.config && app.config.features) || {};
	}

	function showError(msg) {
		const b = byId('error-banner');
		setText(b, msg);
		b.hidden = false;
	}

	function clearError() {
		const b = byId('error-banner');
		b.hidden = true;
		setText(b, '');
	}

	function dec(s) {
		try {
			return decodeURIComponent(s);
		} catch (e) {
			return s;
		}
	}

	/* The view for a URL fragment: {key, make(), params}. */
	function resolve(hash) {
		let m;
		if (hash === '' || hash === '#' || hash === '#/' || hash === '#/overview')
			return { key: 'overview', make: overviewView };
		if ((m = /^#\/jobs\/(running|completed)$/.exec(hash)))
			return { key: 'jobs-' + m[1], make: () => jobListView(m[1]) };
		if ((m = /^#\/job\/([^/]+)(?:\/([a-z]+))?$/.exec(hash))) {
			const jid = dec(m[1]);
			const tab = JOB_TABS.some((t) => t[0] === m[2]) ? m[2] : 'overview';
			return { key: 'job:' + jid, make: () => jobView(jid, tab), params: { tab: tab } };
		}
		if (hash === '#/taskmanagers')
			return { key: 'taskmanagers', make: taskManagersView };
		if ((m = /^#\/taskmanager\/([^/]+)(?:\/logs\/(.+))?$/.exec(hash))) {
			const id = dec(m[1]), log = m[2] ? dec(m[2]) : null;
			return { key: 'tm:' + id + ':' + (log || ''), make: () => taskManagerView(id, log) };
		}
		if ((m = /^#\/jobmanager(?:\/logs\/(.+))?$/.exec(hash))) {
			const log = m[1] ? dec(m[1]) : null;
			return { key: 'jm:' + (log || ''), make: () => jobManagerView(log) };
		}
		if (hash === '#/submit')
			return { key: 'submit', make: submitView };
		return { key: 'notfound', make: () => notFoundView(hash) };
	}

	function navigate() {
		const r = resolve(location.hash);
		if (app.view && app.view.key === r.key) {
			if (app.view.route)
				app.view.route(r.params || {});
			return;
		}
		if (app.view && app.view.leave)
			app.view.leave();
		app.gen++;
		clearError();
		app.view = r.make();
		replace(byId('view'), app.view.node);
		for (const a of document.querySelectorAll('#sidebar a'))
			a.classList.toggle('active', a.id === app.view.nav);
		kick();
	}

	async function loadConfig() {
		const c = await get('config');
		app.config = c;
		const ms = Number(c['refresh-interval']);
		app.refreshMs = ms > 0 ? Math.max(ms, 250) : 3000;
		setText(byId('version'), c['flink-version'] || '');
		byId('nav-submit').hidden = !features()['web-submit'];
	}

	let running = false, again = false;

	/* Runs one refresh of the current view now (coalescing requests that come in while one
	 * runs) and schedules the next one. */
	async function kick() {
		if (running) {
			again = true;
			return;
		}
		running = true;
		clearTimeout(app.timer);
		try {
			do {
				again = false;
				const gen = app.gen;
				try {
					await loadConfig();
					await app.view.refresh();
					if (gen === app.gen) {
						clearError();
						setText(byId('refresh-state'), 'updated ' + fmtTime(Date.now()).slice(11));
					}
				} catch (e) {
					if (gen === app.gen) {
						showError(e.message || String(e));
						setText(byId('refresh-state'), 'refresh failed ' +
							fmtTime(Date.now()).slice(11));
					}
				}
			} while (again);
		} finally {
			running = false;
			clearTimeout(app.timer);
			app.timer = setTimeout(kick, app.refreshMs);
		}
	}

	/* The features (submit, cancel) decide what some views draw, so the first view is drawn
	 * once GET /config answered; until then the banner says why nothing shows. */
	async function start() {
		for (;;) {
			try {
				await loadConfig();
				break;
			} catch (e) {
				showError(e.message);
				await new Promise((resolve) => setTimeout(resolve, app.refreshMs));
			}
		}
		window.addEventListener('hashchange', navigate);
		navigate();
	}

	window.addEventListener('keydown', (e) => {
		if (e.key === 'Escape')
			closeDrawer();
	});
	byId('drawer-close').addEventListener('click', closeDrawer);
	start();

	/* For tests and debugging: the layout and argument splitting as pure functions. */
	window.spateDashboard = { layoutDag: layoutDag, splitArgs: splitArgs,
		jobGraphModel: jobGraphModel };
})();
