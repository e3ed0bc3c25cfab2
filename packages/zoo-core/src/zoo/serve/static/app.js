// The try-it page of `zoo serve`: one form per served model, built from its input_form.
"use strict";

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

async function predict(model, inputs, options) {
  const response = await fetch(`/v1/models/${encodeURIComponent(model.name)}/predict`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ inputs, options }),
  });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error + (body.hint ? ` (${body.hint})` : ""));
  return body;
}

function showError(error) {
  $("result").replaceChildren(el("div", { class: "error", id: "error", text: String(error.message || error) }));
}

function bars(rows) {
  const box = el("div", { class: "bars" });
  for (const row of rows) {
    const pct = Math.max(0, Math.min(1, row.p)) * 100;
    const fill = el("div", { class: "fill" });
    fill.style.width = `${pct.toFixed(1)}%`;
    box.append(el("div", { class: "bar" }, el("span", { class: "name", text: row.label, title: row.label }),
      el("div", { class: "track" }, fill), el("span", { text: `${pct.toFixed(1)}%` })));
  }
  return box;
}

// The answer in the model's terms: a class and its probability (and the runners-up), a
// probability of label 1, a value of the target, or text.
function answer(model, result) {
  const target = model.input_form.label;
  if (Array.isArray(result.top) && typeof result.probability === "number") {
    return [el("div", { class: "big", id: "prediction", text: String(result.output) }),
      el("p", { class: "muted", id: "probability", text: `probability ${(result.probability * 100).toFixed(1)}%` }),
      bars(result.top.map((t) => ({ label: String(t.class), p: t.probability })))];
  }
  if (result.label !== undefined && typeof result.probability === "number") {
    const of = target ? `${target} = 1` : "label 1";
    return [el("div", { class: "big", id: "prediction", text: String(result.label) }),
      el("p", { class: "muted", id: "probability", text: `probability of ${of}: ${(result.probability * 100).toFixed(1)}%` }),
      bars([{ label: "1", p: result.probability }, { label: "0", p: 1 - result.probability }])];
  }
  if (typeof result.output === "number") {
    return [el("p", { class: "muted", text: target ? `predicted ${target}` : "predicted value" }),
      el("div", { class: "big", id: "prediction", text: String(Number(result.output.toPrecision(6))) })];
  }
  const text = typeof result.output === "string" ? result.output : JSON.stringify(result.output);
  const parts = [el("div", { class: "big", id: "prediction", text })];
  if (result.generated !== undefined) parts.push(el("p", { class: "muted", text: "generated: " + result.generated }));
  return parts;
}

function showResult(model, result) {
  const details = el("details", {}, el("summary", { text: "JSON" }), el("pre", { text: JSON.stringify(result, null, 2) }));
  const panel = $("result");
  panel.replaceChildren(el("h2", { text: `${model.name} answers` }), ...answer(model, result), details);
  const box = panel.getBoundingClientRect();
  if (box.top < 0 || box.bottom > window.innerHeight) panel.scrollIntoView({ block: "nearest" });
}

// The likeliest three classes, where the model has classes and takes the top option.
function topOptions(model) {
  const classes = model.labels || model.input_form.classes || [];
  return (model.options || []).includes("top") && classes.length ? { top: Math.min(3, classes.length) } : {};
}

function run(model, inputs, options) {
  predict(model, inputs, options).then((results) => showResult(model, results[0]), showError);
}

function numbersForm(model) {
  const form = model.input_form;
  const start = form.example || [];
  const fields = form.names.map((name, i) =>
    el("div", {}, el("label", { for: `x${i}`, text: name }),
      el("input", { type: "number", step: "any", id: `x${i}`, value: String(start[i] ?? 0) })));
  const go = () => run(model, [form.names.map((_, i) => Number($(`x${i}`).value))], topOptions(model));
  return [el("div", { class: "fields" }, ...fields),
    el("div", { class: "row" }, el("button", { class: "primary", id: "submit", text: "Predict", onclick: go }))];
}

// A model of typed columns (numbers and categories) takes one CSV row of raw cells, in its columns' order.
function tableForm(model) {
  const form = model.input_form;
  const byName = Object.fromEntries(form.fields.map((f) => [f.name, f]));
  const fields = form.names.map((name, i) => {
    const field = byName[name] || { kind: "number", example: "" };
    const attrs = { id: `x${i}`, value: String(field.example ?? "") };
    if (field.kind === "number") Object.assign(attrs, { type: "number", step: "any" });
    else Object.assign(attrs, { type: "text", list: `choices${i}` });
    const choices = field.kind === "category"
      ? el("datalist", { id: `choices${i}` }, ...(field.choices || []).map((c) => el("option", { value: String(c) })))
      : null;
    return el("div", {}, el("label", { for: `x${i}`, text: name, title: name }), el("input", attrs), choices);
  });
  const cell = (v) => (/[",]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  const go = () => run(model, [form.names.map((_, i) => cell($(`x${i}`).value.trim())).join(",")], topOptions(model));
  return [el("div", { class: "fields" }, ...fields),
    el("div", { class: "row" }, el("button", { class: "primary", id: "submit", text: "Predict", onclick: go }))];
}

function textForm(model) {
  const form = model.input_form;
  const parts = [el("label", { for: "text", text: `Text (characters from "${form.vocab}")` }),
    el("input", { type: "text", id: "text", value: form.example || "" })];
  if (form.generate) {
    parts.push(el("label", { for: "generate", text: "Characters to generate (0 = next-character guesses)" }),
      el("input", { type: "number", id: "generate", min: "0", max: "2000", value: "40" }));
  }
  const go = () => {
    const n = form.generate ? Number($("generate").value) : 0;
    run(model, [$("text").value], n > 0 ? { generate: n, temperature: 0 } : { top: 3 });
  };
  parts.push(el("div", { class: "row" }, el("button", { class: "primary", id: "submit", text: "Predict", onclick: go })));
  return parts;
}

function imageForm(model) {
  const form = model.input_form;
  const pad = el("canvas", { id: "pad", width: "280", height: "280", "aria-label": "drawing pad" });
  const small = el("canvas", { id: "small", width: String(form.size), height: String(form.size), title: "what the model sees" });
  const ctx = pad.getContext("2d");
  const clear = () => { ctx.fillStyle = "#000"; ctx.fillRect(0, 0, pad.width, pad.height); shrink(); };
  const shrink = () => {
    const s = small.getContext("2d");
    s.imageSmoothingEnabled = true;
    s.imageSmoothingQuality = "high";
    s.drawImage(pad, 0, 0, small.width, small.height);
  };
  let last = null;
  const at = (e) => { const r = pad.getBoundingClientRect(); return [(e.clientX - r.left) * pad.width / r.width, (e.clientY - r.top) * pad.height / r.height]; };
  pad.addEventListener("pointerdown", (e) => { pad.setPointerCapture(e.pointerId); last = at(e); stroke(last, last); });
  pad.addEventListener("pointermove", (e) => { if (last) { const p = at(e); stroke(last, p); last = p; } });
  const up = () => { if (last) { last = null; shrink(); } };
  pad.addEventListener("pointerup", up);
  pad.addEventListener("pointercancel", up);
  function stroke(a, b) {
    ctx.strokeStyle = "#fff"; ctx.lineWidth = 20; ctx.lineCap = "round"; ctx.lineJoin = "round";
    ctx.beginPath(); ctx.moveTo(a[0], a[1]); ctx.lineTo(b[0], b[1]); ctx.stroke();
  }
  const options = topOptions(model);
  const send = () => { shrink(); run(model, [small.toDataURL("image/png")], options); };
  const upload = el("input", { type: "file", id: "file", accept: "image/*" });
  upload.addEventListener("change", () => {
    const file = upload.files[0];
    if (!file) return;
    const reader = new FileReader();
    reader.onload = () => run(model, [reader.result], options);
    reader.readAsDataURL(file);
  });
  setTimeout(clear, 0);
  return [
    el("div", { class: "pads" }, pad, el("div", {}, el("label", { text: `${form.size}x${form.size}` }), small)),
    el("div", { class: "row" },
      el("button", { class: "primary", id: "submit", text: "Predict", onclick: send }),
      el("button", { class: "secondary", id: "clear", text: "Clear", onclick: clear })),
    el("label", { for: "file", text: "or upload a picture" }), upload,
  ];
}

function show(model, buttons) {
  for (const b of buttons) b.setAttribute("aria-pressed", String(b.dataset.name === model.name));
  const kind = model.input_form.kind;
  const body = kind === "image" ? imageForm(model) : Array.isArray(model.input_form.fields) ? tableForm(model)
    : kind === "text" ? textForm(model) : numbersForm(model);
  $("panel").replaceChildren(el("h2", { text: model.name }),
    el("p", { class: "muted", id: "about", text: model.about || model.summary }),
    el("p", { id: "prompt", text: model.prompt || "" }), ...body);
  $("result").replaceChildren(el("p", { class: "muted", text: "The prediction appears here." }));
}

fetch("/v1/models").then((r) => r.json()).then(({ models }) => {
  const nav = $("models");
  const buttons = models.map((m) => el("button", { "data-name": m.name, text: m.name }));
  buttons.forEach((b, i) => b.addEventListener("click", () => show(models[i], buttons)));
  nav.replaceChildren(...buttons);
  if (models.length) show(models[0], buttons);
}, showError);
