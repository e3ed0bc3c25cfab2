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
    box.append(el("div", { class: "bar" }, el("span", { text: row.label }),
      el("div", { class: "track" }, fill), el("span", { text: `${pct.toFixed(1)}%` })));
  }
  return box;
}

function showResult(model, result) {
  const panel = $("result");
  const children = [el("h2", { text: "Prediction" })];
  const form = model.input_form;
  if (form.kind === "image") {
    children.push(el("div", { class: "big", id: "prediction", text: String(result.output) }));
    children.push(el("p", { class: "muted", text: `probability ${(result.probability * 100).toFixed(1)}%` }));
    children.push(bars((result.top || []).map((t) => ({ label: t.class, p: t.probability }))));
  } else if (form.kind === "text") {
    children.push(el("div", { class: "big", id: "prediction", text: result.output }));
    if (result.generated !== undefined) children.push(el("p", { class: "muted", text: "generated: " + result.generated }));
  } else {
    const value = typeof result.output === "number" ? result.output.toPrecision(6) : JSON.stringify(result.output);
    children.push(el("div", { class: "big", id: "prediction", text: value }));
    if (result.label !== undefined) {
      children.push(el("p", { class: "muted", text: `predicted label ${result.label}` }));
      children.push(bars([{ label: "1", p: result.probability }, { label: "0", p: 1 - result.probability }]));
    }
  }
  const details = el("details", {}, el("summary", { text: "JSON" }), el("pre", { text: JSON.stringify(result, null, 2) }));
  children.push(details);
  panel.replaceChildren(...children);
}

function run(model, inputs, options) {
  predict(model, inputs, options).then((results) => showResult(model, results[0]), showError);
}

function numbersForm(model) {
  const form = model.input_form;
  const fields = form.names.map((name, i) =>
    el("div", {}, el("label", { for: `x${i}`, text: name }), el("input", { type: "number", step: "any", id: `x${i}`, value: "0" })));
  const go = () => run(model, [form.names.map((_, i) => Number($(`x${i}`).value))], {});
  return [...fields, el("div", { class: "row" }, el("button", { class: "primary", id: "submit", text: "Predict", onclick: go }))];
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
  const pad = el("canvas", { id: "pad", width: "280", height: "280", "aria-label": "draw a digit here" });
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
  const options = { top: Math.min(5, (form.classes || []).length || 5) };
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
    el("label", { for: "file", text: "or upload a picture of a digit" }), upload,
  ];
}

function show(model, buttons) {
  for (const b of buttons) b.setAttribute("aria-pressed", String(b.dataset.name === model.name));
  const kind = model.input_form.kind;
  const body = kind === "image" ? imageForm(model) : kind === "text" ? textForm(model) : numbersForm(model);
  const a = model.metrics && (model.metrics.val_accuracy ?? model.metrics.accuracy);
  const acc = typeof a === "number" ? ` · accuracy ${(a * 100).toFixed(1)}%` : "";
  $("panel").replaceChildren(el("h2", { text: model.name }),
    el("p", { class: "muted", text: `${model.summary} (${model.task}${acc})` }), ...body);
  $("result").replaceChildren(el("p", { class: "muted", text: "The prediction appears here." }));
}

fetch("/v1/models").then((r) => r.json()).then(({ models }) => {
  const nav = $("models");
  const buttons = models.map((m) => el("button", { "data-name": m.name, text: m.name }));
  buttons.forEach((b, i) => b.addEventListener("click", () => show(models[i], buttons)));
  nav.replaceChildren(...buttons);
  if (models.length) show(models[0], buttons);
}, showError);
