// One job: its progress while it runs, then the results: summary cards, the interactive timeline,
// segments, transcript segments, downloads. A running job can be cancelled (it stays, as
// cancelled); deleting the job from here returns to the list.
import { ApiError, type ApiClient } from "../api";
import { Timeline } from "../chart";
import { announce, byId, h, saveBlob } from "../dom";
import { EMOTION_COLORS, EMOTION_DASHES, EMOTIONS, emotionLabel } from "../emotions";
import { formatClock, formatDateTime, formatDuration, formatPercent } from "../format";
import { describeError, isUnauthorized } from "../messages";
import { smoothFrames, windowFromDescription } from "../smooth";
import type { Analysis, AnalysisSummary, Emotion, Frame, Job, JobStatus } from "../types";
import { isActive, jobName, statusLabel } from "./status";

const POLL_MS = 1500;

export interface JobDetailCallbacks {
  client: () => ApiClient | null;
  onUnauthorized: (message: string) => void;
}

function swatch(emotion: Emotion): HTMLElement {
  return h("span", { class: "swatch", style: { background: EMOTION_COLORS[emotion] }, "aria-hidden": "true" });
}

function emotionTag(emotion: Emotion | null): HTMLElement {
  if (!emotion) return h("span", { class: "muted" }, "no face");
  return h("span", { class: "emotion-tag", dataset: { emotion } }, swatch(emotion), emotionLabel(emotion));
}

/** A short line sample in the emotion's colour and dash pattern, as drawn on the chart. */
function lineSample(emotion: Emotion): SVGSVGElement {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("width", "28");
  svg.setAttribute("height", "10");
  svg.setAttribute("aria-hidden", "true");
  const line = document.createElementNS(ns, "line");
  line.setAttribute("x1", "1");
  line.setAttribute("x2", "27");
  line.setAttribute("y1", "5");
  line.setAttribute("y2", "5");
  line.setAttribute("stroke", EMOTION_COLORS[emotion]);
  line.setAttribute("stroke-width", "2.5");
  const dash = EMOTION_DASHES[emotion];
  if (dash !== "solid") line.setAttribute("stroke-dasharray", dash.join(" "));
  svg.appendChild(line);
  return svg;
}

/** Pressing ``button`` swaps it for a question with Yes and Keep; Keep puts it back. */
function askFirst(
  button: HTMLButtonElement,
  question: string,
  labels: { id: string; yes: string; keep: string; label: string },
  onYes: (yes: HTMLButtonElement) => void,
): void {
  button.addEventListener("click", () => {
    const yes = h("button", { type: "button", id: labels.id, class: "danger" }, labels.yes);
    const keep = h("button", { type: "button" }, labels.keep);
    const prompt = h("span", { class: "confirm", role: "group", "aria-label": labels.label }, question, yes, " ", keep);
    keep.addEventListener("click", () => {
      prompt.replaceWith(button);
      button.focus();
    });
    yes.addEventListener("click", () => onYes(yes));
    button.replaceWith(prompt);
    yes.focus();
  });
}

export class JobDetail {
  private readonly root: HTMLElement;
  private readonly callbacks: JobDetailCallbacks;
  private readonly announcer = byId("announcer");
  private jobId: string | null = null;
  private timer = 0;
  private timeline: Timeline | null = null;
  private generation = 0;
  private shownStatus: JobStatus | null = null;
  private results: { summary: AnalysisSummary; frames: Frame[] } | null = null;
  private readonly personFrames = new Map<string, Frame[]>();

  constructor(root: HTMLElement, callbacks: JobDetailCallbacks) {
    this.root = root;
    this.callbacks = callbacks;
  }

  show(jobId: string): void {
    this.hide();
    this.jobId = jobId;
    this.root.hidden = false;
    this.root.replaceChildren(
      h("p", null, h("a", { href: "#/" }, "← All jobs")),
      h("h2", { id: "job-heading", tabindex: "-1" }, `Job ${jobId.slice(0, 8)}`),
      h("p", { class: "muted" }, "Loading…"),
    );
    byId("job-heading").focus();
    void this.poll(this.generation);
  }

  hide(): void {
    this.generation += 1;
    window.clearTimeout(this.timer);
    this.timeline?.dispose();
    this.timeline = null;
    this.jobId = null;
    this.shownStatus = null;
    this.results = null;
    this.root.hidden = true;
    this.root.replaceChildren();
  }

  /** Every async step checks its generation, so a late answer for a job the person has left
   * never paints over the page they are on now. */
  private async poll(generation: number): Promise<void> {
    const client = this.callbacks.client();
    const id = this.jobId;
    if (!client || !id) return;
    let job: Job;
    try {
      job = await client.getJob(id);
    } catch (error) {
      if (generation !== this.generation) return;
      if (isUnauthorized(error)) {
        this.callbacks.onUnauthorized(describeError(error));
        return;
      }
      this.renderLoadError(error);
      // A missing job stays missing; anything else (network, a restarting API) may pass.
      if (!(error instanceof ApiError && error.status === 404)) {
        this.timer = window.setTimeout(() => void this.poll(generation), POLL_MS * 4);
      }
      return;
    }
    if (generation !== this.generation) return;
    this.renderJob(job);
    if (isActive(job)) {
      this.timer = window.setTimeout(() => void this.poll(generation), POLL_MS);
      return;
    }
    if (job.status === "succeeded") await this.loadResults(client, job, generation);
  }

  private renderLoadError(error: unknown): void {
    const alert = h(
      "p",
      { id: "job-state", class: "error", role: "alert" },
      `This job could not be shown: ${describeError(error)}`,
    );
    const state = this.root.querySelector("#job-state");
    if (state) {
      state.replaceWith(alert);
      return;
    }
    this.root.replaceChildren(h("p", null, h("a", { href: "#/" }, "← All jobs")), byId("job-heading"), alert);
  }

  /** Built once, then only the status parts change on each poll, so keyboard focus (say, on
   * Delete) is not lost while a job runs; the buttons change only with the status. */
  private renderJob(job: Job): void {
    const heading = byId("job-heading");
    heading.textContent = jobName(job);
    const meta = h(
      "dl",
      { class: "meta", id: "job-meta" },
      h("dt", null, "Status"),
      h("dd", { id: "job-status", dataset: { status: job.status } }, statusLabel(job.status)),
      h("dt", null, "Submitted"),
      h("dd", null, formatDateTime(job.created_at)),
      h("dt", null, "Video"),
      h(
        "dd",
        null,
        job.video
          ? `${formatDuration(job.video.duration_s)}, ${job.video.width}×${job.video.height}` +
              (job.video.codec ? `, ${job.video.codec}` : "")
          : "–",
      ),
      h("dt", null, "Sampling"),
      h("dd", null, `${job.fps} frames per second`),
      h("dt", null, "Job id"),
      h("dd", null, h("code", null, job.id)),
    );
    const existingMeta = this.root.querySelector("#job-meta");
    if (existingMeta) {
      existingMeta.replaceWith(meta);
      this.root.querySelector("#job-state")!.replaceWith(this.renderState(job));
      if (this.shownStatus !== job.status)
        this.root.querySelector(".actions-bar")!.replaceWith(this.renderActions(job));
    } else {
      this.root.replaceChildren(
        h("p", null, h("a", { href: "#/" }, "← All jobs")),
        heading,
        meta,
        this.renderState(job),
        this.renderActions(job),
        h("div", { id: "job-results" }),
      );
    }
    if (this.shownStatus !== null && this.shownStatus !== job.status && !isActive(job)) {
      announce(this.announcer, `${jobName(job)}: ${statusLabel(job.status).toLowerCase()}.`);
    }
    this.shownStatus = job.status;
  }

  private renderState(job: Job): HTMLElement {
    if (isActive(job)) {
      const chunks = job.chunks_total ? ` (${job.chunks_done} of ${job.chunks_total} parts)` : "";
      return h(
        "div",
        { id: "job-state", class: "state" },
        h("progress", { max: "1", value: String(job.progress), "aria-label": "Analysis progress" }),
        h("span", null, ` ${statusLabel(job.status)}: ${formatPercent(job.progress)}${chunks}`),
      );
    }
    if (job.status === "failed") {
      const reason = job.error ? `${job.error.message} (${job.error.code})` : "No reason was recorded.";
      return h(
        "div",
        { id: "job-state", class: "error-box", role: "alert" },
        h("strong", null, "The analysis failed. "),
        reason,
      );
    }
    if (job.status === "cancelled") {
      return h("div", { id: "job-state", class: "state" }, "This job was cancelled; it has no results.");
    }
    return h("div", { id: "job-state", class: "state" });
  }

  private renderActions(job: Job): HTMLElement {
    const bar = h("div", { class: "actions-bar" });
    if (job.status === "succeeded") {
      const json = h("button", { type: "button", id: "download-json" }, "Download JSON");
      const csv = h("button", { type: "button", id: "download-csv" }, "Download CSV");
      json.addEventListener("click", () => void this.downloadJson(job, json));
      csv.addEventListener("click", () => void this.downloadCsv(job, csv));
      bar.append(json, csv);
    }
    const message = h("span", { class: "error", role: "alert" });
    if (isActive(job)) {
      // Cancel asks first, as Delete does: it throws away the work done so far.
      const cancel = h("button", { type: "button", id: "cancel-job", class: "danger-outline" }, "Cancel analysis");
      askFirst(
        cancel,
        "Stop this analysis and delete its video and partial results? ",
        { id: "cancel-confirm", yes: "Yes, cancel it", keep: "Keep running", label: "Confirm cancellation" },
        (yes) => void this.cancel(job, yes, message),
      );
      bar.append(cancel);
    }
    const del = h("button", { type: "button", id: "delete-job", class: "danger-outline" }, "Delete job");
    askFirst(
      del,
      "Delete this job, its results and its video? ",
      { id: "delete-confirm", yes: "Yes, delete it", keep: "Keep", label: "Confirm deletion" },
      (yes) => void this.delete(job, yes, message),
    );
    bar.append(del, message);
    return bar;
  }

  private async cancel(job: Job, button: HTMLButtonElement, message: HTMLElement): Promise<void> {
    const client = this.callbacks.client();
    if (!client) return;
    button.disabled = true;
    let ended: Job;
    try {
      ended = await client.cancelJob(job.id);
    } catch (error) {
      if (isUnauthorized(error)) {
        this.callbacks.onUnauthorized(describeError(error));
        return;
      }
      message.textContent = `The job could not be cancelled: ${describeError(error)}`;
      button.disabled = false; // if it just ended on its own, the next poll shows how
      return;
    }
    window.clearTimeout(this.timer);
    this.renderJob(ended);
    byId("job-heading").focus();
  }

  private async delete(job: Job, button: HTMLButtonElement, message: HTMLElement): Promise<void> {
    const client = this.callbacks.client();
    if (!client) return;
    button.disabled = true;
    try {
      await client.deleteJob(job.id);
    } catch (error) {
      if (!(error instanceof ApiError && error.code === "job_not_found")) {
        if (isUnauthorized(error)) this.callbacks.onUnauthorized(describeError(error));
        else message.textContent = `The job could not be deleted: ${describeError(error)}`;
        button.disabled = false;
        return;
      }
    }
    announce(this.announcer, `${jobName(job)} deleted.`);
    window.location.hash = "#/";
  }

  private async loadResults(client: ApiClient, job: Job, generation: number): Promise<void> {
    const results = this.root.querySelector<HTMLElement>("#job-results")!;
    const loading = h("p", { class: "muted", role: "status" }, "Loading results…");
    results.replaceChildren(loading);
    let summary: AnalysisSummary;
    let frames: Frame[];
    try {
      summary = await client.getSummary(job.id);
      if (generation !== this.generation) return;
      const total = summary.summary.frames;
      frames = await client.getAllFrames(job.id, (loaded) => {
        loading.textContent = `Loading frames… ${loaded.toLocaleString()} of ${total.toLocaleString()}`;
      });
    } catch (error) {
      if (generation !== this.generation) return;
      if (isUnauthorized(error)) this.callbacks.onUnauthorized(describeError(error));
      else
        results.replaceChildren(
          h("p", { class: "error", role: "alert" }, `Results could not be loaded: ${describeError(error)}`),
        );
      return;
    }
    if (generation !== this.generation) return;
    this.results = { summary, frames };
    this.personFrames.clear();
    results.replaceChildren(
      ...(summary.participants?.length ? [this.renderPersonPicker(job, summary, generation)] : []),
      this.renderPersonView(summary, frames),
      ...(summary.transcript ? [this.renderTranscript(summary)] : []),
    );
    this.mountTimeline(summary, frames);
    announce(this.announcer, `Results of ${jobName(job)} loaded.`);
  }

  /** Summary, timeline and segments: the main subject's, or one participant's. */
  private renderPersonView(analysis: AnalysisSummary, frames: Frame[]): HTMLElement {
    return h(
      "div",
      { id: "person-view" },
      this.renderSummary(analysis),
      this.renderTimelineSection(analysis, frames),
      this.renderSegments(analysis),
    );
  }

  private renderPersonPicker(job: Job, analysis: AnalysisSummary, generation: number): HTMLElement {
    const people = analysis.participants ?? [];
    const select = h(
      "select",
      { id: "participant-select", "aria-describedby": "participant-help" },
      h("option", { value: "" }, "Main subject (the largest face)"),
      people.map((person) =>
        h(
          "option",
          { value: person.id },
          `${person.speaker ?? "Person " + person.id.slice(1)} (${person.id}, seen ${formatPercent(person.face_visible_ratio)})`,
        ),
      ),
    );
    const message = h("span", { class: "error", role: "alert" });
    select.addEventListener("change", () => void this.showPerson(job, select.value || null, generation, message));
    return h(
      "section",
      { class: "results-section", "aria-labelledby": "people-heading" },
      h("h3", { id: "people-heading" }, `People (${people.length})`),
      h("p", { class: "row" }, h("label", { for: "participant-select" }, "Person "), select, " ", message),
      h(
        "p",
        { id: "participant-help", class: "muted" },
        "Each person seen in the call has an own timeline; names come from the transcript's speakers where they could be matched.",
      ),
    );
  }

  private async showPerson(job: Job, id: string | null, generation: number, message: HTMLElement): Promise<void> {
    const client = this.callbacks.client();
    if (!client || !this.results) return;
    const base = this.results.summary;
    const person = base.participants?.find((p) => p.id === id);
    let analysis = base;
    let frames = this.results.frames;
    message.textContent = "";
    if (person) {
      try {
        frames = this.personFrames.get(person.id) ?? (await client.getAllFrames(job.id, undefined, person.id));
      } catch (error) {
        if (generation !== this.generation) return;
        if (isUnauthorized(error)) this.callbacks.onUnauthorized(describeError(error));
        else message.textContent = `This person's frames could not be loaded: ${describeError(error)}`;
        return;
      }
      if (generation !== this.generation) return;
      this.personFrames.set(person.id, frames);
      analysis = { ...base, summary: person.summary, segments: person.segments, timeline: person.timeline };
    }
    this.timeline?.dispose();
    this.timeline = null;
    this.root.querySelector("#person-view")?.replaceWith(this.renderPersonView(analysis, frames));
    this.mountTimeline(analysis, frames);
    const name = person ? (person.speaker ?? `person ${person.id}`) : "the main subject";
    announce(this.announcer, `Showing ${name}.`);
  }

  private renderSummary(analysis: AnalysisSummary): HTMLElement {
    const s = analysis.summary;
    const dominantShare = s.dominant_emotion ? s.time_share[s.dominant_emotion] : null;
    const shares = h(
      "ul",
      { id: "summary-share", class: "share-list" },
      [...EMOTIONS]
        .sort((a, b) => s.time_share[b] - s.time_share[a])
        .map((emotion) =>
          h(
            "li",
            { dataset: { emotion, value: String(s.time_share[emotion]) } },
            h("span", { class: "share-name" }, swatch(emotion), emotionLabel(emotion)),
            h(
              "span",
              { class: "bar", "aria-hidden": "true" },
              h("span", {
                style: { width: `${(s.time_share[emotion] * 100).toFixed(2)}%`, background: EMOTION_COLORS[emotion] },
              }),
            ),
            h("span", { class: "share-value" }, formatPercent(s.time_share[emotion])),
          ),
        ),
    );
    return h(
      "section",
      { class: "results-section", "aria-labelledby": "summary-heading" },
      h("h3", { id: "summary-heading" }, "Summary"),
      h(
        "div",
        { class: "cards" },
        h(
          "div",
          { class: "card", id: "summary-dominant", dataset: { value: s.dominant_emotion ?? "" } },
          h("h4", null, "Dominant emotion"),
          h("p", { class: "card-value" }, emotionTag(s.dominant_emotion)),
          h(
            "p",
            { class: "card-note" },
            dominantShare === null ? "No face was seen." : `${formatPercent(dominantShare)} of face-visible time`,
          ),
        ),
        h(
          "div",
          { class: "card", id: "summary-face", dataset: { value: String(s.face_visible_ratio) } },
          h("h4", null, "Face visible"),
          h("p", { class: "card-value" }, formatPercent(s.face_visible_ratio)),
          h(
            "p",
            { class: "card-note" },
            `${s.face_frames.toLocaleString()} of ${s.frames.toLocaleString()} sampled frames`,
          ),
        ),
        h(
          "div",
          { class: "card", id: "summary-duration", dataset: { value: String(s.duration_s) } },
          h("h4", null, "Length analysed"),
          h("p", { class: "card-value" }, formatDuration(s.duration_s)),
          h("p", { class: "card-note" }, `${analysis.analysis.sample_fps} samples per second`),
        ),
        h("div", { class: "card card-wide" }, h("h4", { id: "share-heading" }, "Share of time per emotion"), shares),
      ),
    );
  }

  private renderTimelineSection(analysis: AnalysisSummary, frames: Frame[]): HTMLElement {
    const toggles = h(
      "fieldset",
      { class: "toggles" },
      h("legend", null, "Emotions shown"),
      EMOTIONS.map((emotion) => {
        const box = h("input", { type: "checkbox", checked: true, dataset: { emotion } });
        box.addEventListener("change", () => this.timeline?.setVisible(emotion, box.checked));
        return h("label", { class: "toggle" }, box, lineSample(emotion), emotionLabel(emotion));
      }),
    );
    const button = (label: string, action: () => void, text: string) => {
      const b = h("button", { type: "button", "aria-label": label, title: label }, text);
      b.addEventListener("click", action);
      return b;
    };
    const zoom = h(
      "div",
      { class: "zoom", role: "group", "aria-label": "Timeline zoom" },
      button("Show earlier", () => this.timeline?.pan(-0.5), "◀ Earlier"),
      button("Zoom in", () => this.timeline?.zoom(0.5), "Zoom in"),
      button("Zoom out", () => this.timeline?.zoom(2), "Zoom out"),
      button("Show all", () => this.timeline?.reset(), "Show all"),
      button("Show later", () => this.timeline?.pan(0.5), "Later ▶"),
    );
    const faceFrames = frames.filter((f) => f.face).length;
    const chart = h("div", {
      id: "timeline-chart",
      class: "chart",
      dataset: { points: String(frames.length), facePoints: String(faceFrames) },
    });
    const table = h("details", { id: "timeline-table" }, h("summary", null, "Timeline values as a table"));
    table.addEventListener("toggle", () => {
      if (table.open && !table.querySelector("table")) table.append(this.renderValuesTable(analysis, frames));
    });
    return h(
      "section",
      { class: "results-section", "aria-labelledby": "timeline-heading" },
      h("h3", { id: "timeline-heading" }, "Timeline"),
      h(
        "p",
        { class: "muted" },
        `Smoothed probabilities (${analysis.analysis.smoothing}). Drag or scroll on the chart to zoom; hover for values. ` +
          "Shaded stretches had no visible face.",
      ),
      h("div", { class: "chart-controls" }, toggles, zoom),
      h(
        "figure",
        { class: "chart-figure" },
        chart,
        h("figcaption", { class: "visually-hidden" }, "Emotion probabilities over time"),
      ),
      table,
    );
  }

  private mountTimeline(analysis: AnalysisSummary, frames: Frame[]): void {
    const container = this.root.querySelector<HTMLElement>("#timeline-chart");
    if (!container) return;
    const smoothed = smoothFrames(frames, windowFromDescription(analysis.analysis.smoothing));
    this.timeline = new Timeline(container, {
      frames,
      smoothed,
      durationS: analysis.summary.duration_s || analysis.video.duration_s,
      dominant: analysis.summary.dominant_emotion,
    });
  }

  /** The chart's values as text, the way a screen reader (or a test) can read them; built on
   * first open, since a two-hour session has some 14,000 rows. */
  private renderValuesTable(analysis: AnalysisSummary, frames: Frame[]): HTMLTableElement {
    const smoothed = smoothFrames(frames, windowFromDescription(analysis.analysis.smoothing));
    const head = EMOTIONS.map((e) => `<th scope="col">${emotionLabel(e)}</th>`).join("");
    const rows = frames
      .map((frame, i) => {
        const row = smoothed[i];
        const cells = row ? row.map((v) => `<td>${formatPercent(v)}</td>`).join("") : `<td colspan="8">no face</td>`;
        return `<tr data-t="${frame.t}"><th scope="row">${formatClock(frame.t, true)}</th>${cells}</tr>`;
      })
      .join("");
    const table = h("table", { class: "values" });
    // Only numbers and fixed words go into this markup, never text from the recording or the user.
    table.innerHTML =
      `<caption>Smoothed probability of each emotion at each sampled instant</caption>` +
      `<thead><tr><th scope="col">Time</th>${head}</tr></thead><tbody>${rows}</tbody>`;
    return table;
  }

  private renderSegments(analysis: AnalysisSummary): HTMLElement {
    const rows = analysis.segments.map((segment) =>
      h(
        "tr",
        null,
        h("td", null, formatClock(segment.start, true)),
        h("td", null, formatClock(segment.end, true)),
        h("td", null, emotionTag(segment.emotion)),
        h("td", { class: "num" }, formatPercent(segment.mean_probs[segment.emotion])),
        h("td", { class: "num" }, String(segment.frames)),
      ),
    );
    return h(
      "section",
      { class: "results-section", "aria-labelledby": "segments-heading" },
      h("h3", { id: "segments-heading" }, "Segments"),
      rows.length
        ? h(
            "div",
            { class: "table-scroll", tabindex: "0", role: "region", "aria-labelledby": "segments-heading" },
            h(
              "table",
              { id: "segments-table" },
              h(
                "thead",
                null,
                h(
                  "tr",
                  null,
                  h("th", { scope: "col" }, "From"),
                  h("th", { scope: "col" }, "To"),
                  h("th", { scope: "col" }, "Emotion"),
                  h("th", { scope: "col" }, "Mean probability"),
                  h("th", { scope: "col" }, "Frames"),
                ),
              ),
              h("tbody", null, rows),
            ),
          )
        : h("p", { class: "muted" }, "No segments: no face was visible."),
    );
  }

  private renderTranscript(analysis: AnalysisSummary): HTMLElement {
    const rows = (analysis.transcript ?? []).map((segment) =>
      h(
        "tr",
        null,
        h("td", null, formatClock(segment.start, true)),
        h("td", null, formatClock(segment.end, true)),
        h("td", null, segment.speaker ?? "–"),
        h("td", { class: "text" }, segment.text ?? ""),
        h("td", null, emotionTag(segment.dominant_emotion)),
        h("td", { class: "num" }, String(segment.face_frames)),
      ),
    );
    return h(
      "section",
      { class: "results-section", "aria-labelledby": "transcript-heading" },
      h("h3", { id: "transcript-heading" }, "Transcript"),
      h(
        "div",
        { class: "table-scroll", tabindex: "0", role: "region", "aria-labelledby": "transcript-heading" },
        h(
          "table",
          { id: "transcript-table" },
          h(
            "thead",
            null,
            h(
              "tr",
              null,
              h("th", { scope: "col" }, "From"),
              h("th", { scope: "col" }, "To"),
              h("th", { scope: "col" }, "Speaker"),
              h("th", { scope: "col" }, "Text"),
              h("th", { scope: "col" }, "Emotion"),
              h("th", { scope: "col" }, "Face frames"),
            ),
          ),
          h("tbody", null, rows),
        ),
      ),
    );
  }

  private async downloadJson(job: Job, button: HTMLButtonElement): Promise<void> {
    const client = this.callbacks.client();
    if (!client) return;
    button.disabled = true;
    try {
      const { summary, frames } = this.results ?? {
        summary: await client.getSummary(job.id),
        frames: await client.getAllFrames(job.id),
      };
      // Key order of ml/schema.py's Analysis, so the file matches `emotrace analyze` output.
      const analysis: Analysis = {
        schema_version: summary.schema_version,
        video: summary.video,
        analysis: summary.analysis,
        frames,
        segments: summary.segments,
        timeline: summary.timeline,
        summary: summary.summary,
        transcript: summary.transcript ?? null,
        ...(summary.participants ? { participants: summary.participants } : {}),
      };
      saveBlob(new Blob([JSON.stringify(analysis, null, 2)], { type: "application/json" }), `emotrace-${job.id}.json`);
    } catch (error) {
      this.downloadFailed(error);
    } finally {
      button.disabled = false;
    }
  }

  private async downloadCsv(job: Job, button: HTMLButtonElement): Promise<void> {
    const client = this.callbacks.client();
    if (!client) return;
    button.disabled = true;
    try {
      saveBlob(await client.getFramesCsv(job.id), `emotrace-${job.id}.csv`);
    } catch (error) {
      this.downloadFailed(error);
    } finally {
      button.disabled = false;
    }
  }

  private downloadFailed(error: unknown): void {
    if (isUnauthorized(error)) this.callbacks.onUnauthorized(describeError(error));
    else announce(this.announcer, `Download failed: ${describeError(error)}`);
    const bar = this.root.querySelector(".actions-bar [role=alert]");
    if (bar && !isUnauthorized(error)) bar.textContent = `Download failed: ${describeError(error)}`;
  }
}
