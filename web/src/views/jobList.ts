// "Your jobs": the key's jobs, newest first, polled while any of them is still moving. Rows are
// updated in place, so keyboard focus and a half-made delete confirmation survive each poll.
import { type ApiClient } from "../api";
import { announce, byId, h } from "../dom";
import { formatDateTime, formatDuration } from "../format";
import { describeError, isUnauthorized } from "../messages";
import type { Job } from "../types";
import { isActive, jobName, statusLabel } from "./status";

const PAGE_SIZE = 50;
const ACTIVE_POLL_MS = 2000;
const IDLE_POLL_MS = 15000;

export interface JobListCallbacks {
  client: () => ApiClient | null;
  onUnauthorized: (message: string) => void;
}

interface Row {
  tr: HTMLTableRowElement;
  job: Job;
  status: HTMLElement;
  progress: HTMLProgressElement;
  progressText: HTMLElement;
  length: HTMLElement;
  actions: HTMLElement;
}

export class JobList {
  private readonly body = byId<HTMLTableSectionElement>("jobs-body");
  private readonly table = byId("jobs-table");
  private readonly empty = byId("jobs-empty");
  private readonly error = byId("jobs-error");
  private readonly more = byId<HTMLButtonElement>("jobs-more");
  private readonly announcer = byId("announcer");
  private readonly callbacks: JobListCallbacks;
  private readonly rows = new Map<string, Row>();
  private firstPageIds = new Set<string>();
  private nextCursor: string | null = null;
  private timer = 0;
  private running = false;
  private loading = false;

  constructor(callbacks: JobListCallbacks) {
    this.callbacks = callbacks;
    byId("jobs-refresh").addEventListener("click", () => void this.refresh());
    this.more.addEventListener("click", () => void this.loadOlder());
    document.addEventListener("visibilitychange", () => {
      if (this.running && !document.hidden) void this.refresh();
    });
  }

  start(): void {
    this.running = true;
    void this.refresh();
  }

  stop(): void {
    this.running = false;
    window.clearTimeout(this.timer);
  }

  clear(): void {
    this.stop();
    this.rows.clear();
    this.firstPageIds.clear();
    this.body.replaceChildren();
    this.nextCursor = null;
    this.table.hidden = true;
    this.empty.hidden = true;
    this.more.hidden = true;
    this.error.textContent = "";
  }

  /** A job the page just created shows at once, before the next poll. */
  add(job: Job): void {
    this.upsert(job, true);
    this.updateVisibility();
    this.schedule();
  }

  async refresh(): Promise<void> {
    const client = this.callbacks.client();
    if (!client || this.loading) return;
    this.loading = true;
    window.clearTimeout(this.timer);
    try {
      const page = await client.listJobs(PAGE_SIZE);
      this.error.textContent = "";
      const ids = new Set(page.items.map((job) => job.id));
      // A job gone from a short first page was deleted elsewhere; one gone from a full page may
      // just have moved to the second, so it stays.
      if (page.items.length < PAGE_SIZE) {
        for (const id of this.firstPageIds) if (!ids.has(id)) this.remove(id);
      }
      for (const job of [...page.items].reverse()) this.upsert(job, true);
      this.firstPageIds = ids;
      if (this.rows.size <= page.items.length) this.nextCursor = page.next_cursor;
      this.updateVisibility();
    } catch (error) {
      if (isUnauthorized(error)) {
        this.callbacks.onUnauthorized(describeError(error));
        return;
      }
      this.error.textContent = `The job list could not be loaded: ${describeError(error)}`;
    } finally {
      this.loading = false;
    }
    this.schedule();
  }

  private schedule(): void {
    window.clearTimeout(this.timer);
    if (!this.running) return;
    const anyActive = [...this.rows.values()].some((row) => isActive(row.job));
    this.timer = window.setTimeout(
      () => {
        if (!document.hidden) void this.refresh();
        else this.schedule();
      },
      anyActive ? ACTIVE_POLL_MS : IDLE_POLL_MS,
    );
  }

  private async loadOlder(): Promise<void> {
    const client = this.callbacks.client();
    if (!client || !this.nextCursor) return;
    this.more.disabled = true;
    try {
      const page = await client.listJobs(PAGE_SIZE, this.nextCursor);
      for (const job of page.items) this.upsert(job, false);
      this.nextCursor = page.next_cursor;
      this.updateVisibility();
    } catch (error) {
      if (isUnauthorized(error)) this.callbacks.onUnauthorized(describeError(error));
      else this.error.textContent = `Older jobs could not be loaded: ${describeError(error)}`;
    } finally {
      this.more.disabled = false;
    }
  }

  private updateVisibility(): void {
    this.table.hidden = this.rows.size === 0;
    this.empty.hidden = this.rows.size !== 0;
    this.more.hidden = !this.nextCursor;
  }

  private upsert(job: Job, atTop: boolean): void {
    const existing = this.rows.get(job.id);
    if (existing) {
      const before = existing.job.status;
      existing.job = job;
      this.fill(existing);
      if (before !== job.status && !isActive(job)) {
        announce(this.announcer, `${jobName(job)}: ${statusLabel(job.status).toLowerCase()}.`);
      }
      return;
    }
    const status = h("span", { class: "status" });
    const progress = h("progress", { max: "1", value: "0" });
    const progressText = h("span", { class: "progress-text" });
    const length = h("span");
    const actions = h("span", { class: "actions" });
    const tr = h(
      "tr",
      { dataset: { jobId: job.id } },
      h("td", null, formatDateTime(job.created_at)),
      h("td", null, h("a", { href: `#/jobs/${encodeURIComponent(job.id)}` }, jobName(job))),
      h("td", null, length),
      h("td", null, status),
      h("td", { class: "progress-cell" }, progress, " ", progressText),
      h("td", null, actions),
    );
    progress.setAttribute("aria-label", `Progress of ${jobName(job)}`);
    const row: Row = { tr, job, status, progress, progressText, length, actions };
    this.rows.set(job.id, row);
    this.fill(row);
    this.renderActions(row);
    if (atTop) this.body.prepend(tr);
    else this.body.append(tr);
  }

  private fill(row: Row): void {
    const { job } = row;
    row.tr.dataset.status = job.status;
    row.status.className = `status status-${job.status}`;
    row.status.textContent =
      job.status === "failed" && job.error ? `Failed (${job.error.code})` : statusLabel(job.status);
    if (job.status === "failed" && job.error) row.status.title = job.error.message;
    row.progress.value = job.status === "succeeded" ? 1 : job.progress;
    row.progressText.textContent = `${Math.round((job.status === "succeeded" ? 1 : job.progress) * 100)}%`;
    row.length.textContent = job.video ? formatDuration(job.video.duration_s) : "–";
  }

  private renderActions(row: Row): void {
    const name = jobName(row.job);
    const del = h("button", { type: "button", class: "danger-outline", "aria-label": `Delete ${name}` }, "Delete");
    del.addEventListener("click", () => {
      const confirmBtn = h("button", { type: "button", class: "danger" }, "Yes, delete");
      const keep = h("button", { type: "button" }, "Keep");
      const prompt = h(
        "span",
        { class: "confirm", role: "group", "aria-label": `Delete ${name}?` },
        "Delete? ",
        confirmBtn,
        " ",
        keep,
      );
      keep.addEventListener("click", () => {
        this.renderActions(row);
        row.actions.querySelector("button")?.focus();
      });
      confirmBtn.addEventListener("click", () => void this.delete(row, confirmBtn));
      row.actions.replaceChildren(prompt);
      confirmBtn.focus();
    });
    row.actions.replaceChildren(del);
  }

  private async delete(row: Row, button: HTMLButtonElement): Promise<void> {
    const client = this.callbacks.client();
    if (!client) return;
    button.disabled = true;
    try {
      await client.deleteJob(row.job.id);
      this.remove(row.job.id);
      this.updateVisibility();
      announce(this.announcer, `${jobName(row.job)} deleted.`);
      byId("jobs-heading").focus();
    } catch (error) {
      if (isUnauthorized(error)) this.callbacks.onUnauthorized(describeError(error));
      else this.error.textContent = `The job could not be deleted: ${describeError(error)}`;
      button.disabled = false;
    }
  }

  private remove(id: string): void {
    this.rows.get(id)?.tr.remove();
    this.rows.delete(id);
    this.firstPageIds.delete(id);
  }
}
