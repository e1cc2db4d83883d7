// Draw-a-digit page: pointer drawing on a canvas (mouse, touch, pen), throttled predictions while drawing,
// image upload (file input or drag-and-drop), and the result with a bar per digit.
"use strict";

const THROTTLE_MS = 150;
const BRUSH_WIDTH = 22; // canvas pixels; the canvas is 280 wide, so about 2 MNIST pixels after fitting
// The drawing is sent at half size: the server works on images of 128–256 px as they are and reduces
// larger ones to 256, so 140 px carry the same strokes for about half the server's work per request
// (benchmarks/preprocessing.py, "canvas": ×0.43–0.51).
const SEND_SIDE = 140;
// A number is drawn on a wide canvas (4:1) and sent as drawn: it is read as one line, sized by its height.
const NUMBER_WIDTH = 1120;
const NUMBER_HEIGHT = 280;
const INK = "#fff";
const PAPER = "#000"; // white on black: the MNIST convention

const canvas = document.getElementById("canvas");
const ctx = canvas.getContext("2d");
const result = document.getElementById("result");
const predictionOut = document.getElementById("prediction");
const confidenceOut = document.getElementById("confidence");
const statusOut = document.getElementById("status");
const probabilitiesList = document.getElementById("probabilities");
const fileInput = document.getElementById("file-input");
const dropZone = document.getElementById("drop-zone");
const uploadPreview = document.getElementById("upload-preview");
const partsList = document.getElementById("parts");

const sendCanvasEl = document.createElement("canvas");
sendCanvasEl.width = sendCanvasEl.height = SEND_SIDE;
const sendCtx = sendCanvasEl.getContext("2d");

const state = {
  generation: 0, // bumped by Clear and by uploads: responses to older requests are ignored
  inFlight: 0,
  dirty: false, // the canvas changed since its last prediction request
  canvasInFlight: false,
  timer: null,
  lastSent: 0,
  drawing: false,
  last: null,
  mode: "digit", // or "number": the wide canvas, read by /api/read-number
};

// ---- result display ----

const bars = [];
for (let digit = 0; digit < 10; digit++) {
  const item = document.createElement("li");
  item.dataset.digit = String(digit);
  item.innerHTML = `<span class="label">${digit}</span><span class="track"><span class="bar"></span></span>` +
    `<span class="value">–</span>`;
  probabilitiesList.append(item);
  bars.push(item);
}

function showProbabilities(probabilities, top) {
  bars.forEach((item, digit) => {
    const p = probabilities ? probabilities[digit] : 0;
    const percent = `${(100 * p).toFixed(1)}%`;
    item.querySelector(".bar").style.width = `${100 * p}%`;
    item.querySelector(".value").textContent = probabilities ? percent : "–";
    item.classList.toggle("top", digit === top);
    item.setAttribute("aria-label", probabilities ? `${digit}: ${percent}` : `${digit}`);
  });
}

function resetResult() {
  predictionOut.textContent = "–";
  predictionOut.classList.remove("not-digit");
  confidenceOut.textContent = "–";
  statusOut.textContent = "";
  showProbabilities(null, -1);
  partsList.replaceChildren();
}

function showNumber(data) {
  predictionOut.textContent = data.digits || "–";
  confidenceOut.textContent = `${(100 * data.confidence).toFixed(1)}%`;
  statusOut.textContent = data.digits ? "" : "No digits found.";
  statusOut.className = "hint";
  partsList.replaceChildren(...data.parts.map((part) => {
    const item = document.createElement("li");
    item.innerHTML = `<span class="digit">${part.digit}</span><span class="value">${(100 * part.confidence).toFixed(0)}%</span>`;
    return item;
  }));
}

function showPrediction(data) {
  if (state.mode === "number") {
    showNumber(data);
    return;
  }
  confidenceOut.textContent = `${(100 * data.confidence).toFixed(1)}%`;
  if (data.not_digit) {
    // the digit check says this is no digit at all: say so, and keep the guess in small print
    predictionOut.textContent = "not a digit";
    predictionOut.classList.add("not-digit");
    statusOut.textContent = `It does not look like a digit (closest: ${data.digit}).`;
    statusOut.className = "hint";
  } else {
    predictionOut.textContent = String(data.digit);
    predictionOut.classList.remove("not-digit");
    statusOut.textContent = "";
  }
  showProbabilities(data.probabilities, data.digit);
}

function showHint(message) {
  resetResult();
  statusOut.textContent = message;
  statusOut.className = "hint";
}

function showError(message) {
  predictionOut.textContent = "?";
  confidenceOut.textContent = "–";
  statusOut.textContent = message;
  statusOut.className = "error";
  showProbabilities(null, -1);
}

function updateBusy() {
  result.setAttribute("aria-busy", String(state.dirty || state.inFlight > 0));
}

// ---- requests ----

async function requestPrediction(body, headers, fromCanvas) {
  const generation = state.generation;
  state.inFlight++;
  updateBusy();
  try {
    const endpoint = state.mode === "number" ? "/api/read-number" : "/api/predict";
    const response = await fetch(endpoint, { method: "POST", headers, body });
    const data = await response.json().catch(() => ({ detail: `HTTP ${response.status}` }));
    if (generation !== state.generation) return;
    const detail = String(data.detail || `HTTP ${response.status}`);
    if (response.ok) showPrediction(data);
    // The first dot of a digit is too small to read; that is no error while drawing.
    else if (fromCanvas && response.status === 422 && detail.includes("no ink")) showHint("Keep drawing…");
    else showError(detail);
  } catch (error) {
    if (generation === state.generation) showError(`Cannot reach the server (${error.message}).`);
  } finally {
    state.inFlight--;
    updateBusy();
  }
}

// One canvas request at a time, at most every THROTTLE_MS; changes made meanwhile are sent when it returns.
function scheduleCanvasPrediction(immediately) {
  state.dirty = true;
  updateBusy();
  if (state.canvasInFlight) return;
  clearTimeout(state.timer);
  const wait = immediately ? 0 : Math.max(0, THROTTLE_MS - (performance.now() - state.lastSent));
  state.timer = setTimeout(sendCanvas, wait);
}

async function sendCanvas() {
  if (!state.dirty || state.canvasInFlight) return;
  state.dirty = false;
  state.canvasInFlight = true;
  state.lastSent = performance.now();
  try {
    let image;
    if (state.mode === "number") {
      image = canvas.toDataURL("image/png");
    } else {
      sendCtx.imageSmoothingQuality = "high";
      sendCtx.drawImage(canvas, 0, 0, SEND_SIDE, SEND_SIDE);
      image = sendCanvasEl.toDataURL("image/png");
    }
    await requestPrediction(JSON.stringify({ image }), { "Content-Type": "application/json" }, true);
  } finally {
    state.canvasInFlight = false;
    if (state.dirty) scheduleCanvasPrediction(!state.drawing);
  }
}

function sendFile(file) {
  if (!file) return;
  clearCanvas();
  if (uploadPreview.src) URL.revokeObjectURL(uploadPreview.src);
  uploadPreview.src = URL.createObjectURL(file);
  uploadPreview.hidden = false;
  const form = new FormData();
  form.append("file", file, file.name);
  requestPrediction(form, {}, false);
}

// ---- drawing ----

function clearCanvas() {
  state.generation++;
  clearTimeout(state.timer);
  state.dirty = false;
  ctx.fillStyle = PAPER;
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  resetResult();
  updateBusy();
}

function canvasPoint(event) {
  const rect = canvas.getBoundingClientRect(); // the canvas may be shown smaller than 280 px (phones)
  return {
    x: (event.clientX - rect.left) * canvas.width / rect.width,
    y: (event.clientY - rect.top) * canvas.height / rect.height,
  };
}

function dot(point) {
  ctx.beginPath();
  ctx.arc(point.x, point.y, BRUSH_WIDTH / 2, 0, 2 * Math.PI);
  ctx.fillStyle = INK;
  ctx.fill();
}

function strokeTo(point) {
  ctx.beginPath();
  ctx.moveTo(state.last.x, state.last.y);
  ctx.lineTo(point.x, point.y);
  ctx.stroke();
  state.last = point;
}

canvas.addEventListener("pointerdown", (event) => {
  if (event.pointerType === "mouse" && event.button !== 0) return;
  event.preventDefault();
  canvas.setPointerCapture(event.pointerId);
  if (!uploadPreview.hidden) {
    uploadPreview.hidden = true;
    resetResult();
  }
  state.drawing = true;
  state.last = canvasPoint(event);
  dot(state.last); // canvas drops zero-length strokes, so a tap needs its own dot
  scheduleCanvasPrediction(false);
});

canvas.addEventListener("pointermove", (event) => {
  if (!state.drawing) return;
  const events = (event.getCoalescedEvents && event.getCoalescedEvents()) || [];
  for (const each of events.length ? events : [event]) strokeTo(canvasPoint(each));
  scheduleCanvasPrediction(false);
});

function endStroke() {
  if (!state.drawing) return;
  state.drawing = false;
  scheduleCanvasPrediction(true);
}
canvas.addEventListener("pointerup", endStroke);
canvas.addEventListener("pointercancel", endStroke);

canvas.addEventListener("keydown", (event) => {
  if (event.key === "Escape" || event.key === "Delete" || event.key === "Backspace") clearCanvas();
});

document.getElementById("clear").addEventListener("click", clearCanvas);

// ---- mode: one digit or a number ----

function setMode(mode) {
  state.mode = mode;
  document.body.classList.toggle("number", mode === "number");
  canvas.width = mode === "number" ? NUMBER_WIDTH : 280;
  canvas.height = mode === "number" ? NUMBER_HEIGHT : 280;
  canvas.setAttribute("aria-label", mode === "number"
    ? "Drawing area: write a number, digits side by side, with the mouse, a finger or a pen"
    : "Drawing area: draw one digit with the mouse, a finger or a pen");
  probabilitiesList.hidden = mode === "number";
  partsList.hidden = mode !== "number";
  ctx.lineWidth = BRUSH_WIDTH;
  ctx.lineCap = ctx.lineJoin = "round";
  ctx.strokeStyle = INK;
  clearCanvas();
}

document.querySelectorAll('input[name="mode"]').forEach((input) => {
  input.addEventListener("change", () => setMode(input.value));
});

// ---- upload ----

fileInput.addEventListener("change", () => {
  sendFile(fileInput.files[0]);
  fileInput.value = ""; // choosing the same file again still triggers a prediction
});

for (const type of ["dragenter", "dragover"]) {
  dropZone.addEventListener(type, (event) => {
    event.preventDefault();
    dropZone.classList.add("dragging");
  });
}
for (const type of ["dragleave", "drop"]) {
  dropZone.addEventListener(type, () => dropZone.classList.remove("dragging"));
}
dropZone.addEventListener("drop", (event) => {
  event.preventDefault();
  sendFile(event.dataTransfer.files[0]);
});

// ---- start ----

ctx.lineWidth = BRUSH_WIDTH;
ctx.lineCap = "round";
ctx.lineJoin = "round";
ctx.strokeStyle = INK;
clearCanvas();

fetch("/api/health")
  .then((response) => response.json())
  .then((health) => { document.getElementById("model-name").textContent = `Model: ${health.model}.`; })
  .catch(() => {});
