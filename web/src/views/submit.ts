// The "New analysis" form: one recording (dropped, chosen or recorded), options, and an upload
// that reports its progress and can be cancelled.
import { type ApiClient, ApiError, type UploadHandle } from "../api";
import { announce, byId } from "../dom";
import { formatBytes } from "../format";
import { describeError, isUnauthorized } from "../messages";
import type { Job } from "../types";
import { Recorder } from "./recorder";

export interface SubmitCallbacks {
  client: () => ApiClient | null;
  onSubmitted: (job: Job) => void;
  onUnauthorized: (message: string) => void;
}

export class SubmitForm {
  private readonly form = byId<HTMLFormElement>("submit-form");
  private readonly dropzone = byId("dropzone");
  private readonly fileInput = byId<HTMLInputElement>("file-input");
  private readonly chosen = byId("file-chosen");
  private readonly fpsInput = byId<HTMLInputElement>("fps-input");
  private readonly transcriptInput = byId<HTMLInputElement>("transcript-input");
  private readonly externalIdInput = byId<HTMLInputElement>("external-id-input");
  private readonly retainInput = byId<HTMLInputElement>("retain-input");
  private readonly facesInput = byId<HTMLInputElement>("faces-input");
  private readonly submitButton = byId<HTMLButtonElement>("submit-button");
  private readonly cancelButton = byId<HTMLButtonElement>("upload-cancel");
  private readonly progress = byId<HTMLProgressElement>("upload-progress");
  private readonly status = byId("upload-status");
  private readonly error = byId("submit-error");
  private readonly announcer = byId("announcer");
  private readonly callbacks: SubmitCallbacks;
  private file: File | null = null;
  private upload: UploadHandle | null = null;

  constructor(callbacks: SubmitCallbacks) {
    this.callbacks = callbacks;
    this.fileInput.addEventListener("change", () => {
      const file = this.fileInput.files?.[0];
      if (file) this.choose(file);
    });
    for (const type of ["dragenter", "dragover"]) {
      this.dropzone.addEventListener(type, (event) => {
        event.preventDefault();
        this.dropzone.classList.add("dragging");
      });
    }
    for (const type of ["dragleave", "dragend"]) {
      this.dropzone.addEventListener(type, () => this.dropzone.classList.remove("dragging"));
    }
    this.dropzone.addEventListener("drop", (event) => {
      event.preventDefault();
      this.dropzone.classList.remove("dragging");
      const file = (event as DragEvent).dataTransfer?.files?.[0];
      if (file) this.choose(file);
    });
    // A file dropped outside the zone would otherwise make the browser navigate away to play it.
    window.addEventListener("dragover", (event) => event.preventDefault());
    window.addEventListener("drop", (event) => event.preventDefault());

    new Recorder(
      {
        preview: byId<HTMLVideoElement>("camera-preview"),
        cameraButton: byId<HTMLButtonElement>("camera-start"),
        recordButton: byId<HTMLButtonElement>("record-toggle"),
        clock: byId("record-clock"),
        error: byId("camera-error"),
      },
      (file) => this.choose(file),
    );

    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      void this.submit();
    });
    this.cancelButton.addEventListener("click", () => this.upload?.abort());
  }

  private choose(file: File): void {
    this.file = file;
    this.error.textContent = "";
    this.chosen.textContent = `Ready: ${file.name} (${formatBytes(file.size)}).`;
    this.submitButton.disabled = false;
  }

  private async submit(): Promise<void> {
    const client = this.callbacks.client();
    if (!client || !this.file || this.upload) return;
    this.error.textContent = "";
    const fps = Number(this.fpsInput.value);
    if (!Number.isFinite(fps) || fps <= 0 || fps > 30) {
      this.error.textContent = "Samples per second must be a number above 0 and at most 30.";
      this.fpsInput.focus();
      return;
    }
    const file = this.file;
    this.submitButton.disabled = true;
    this.cancelButton.hidden = false;
    this.progress.hidden = false;
    this.progress.value = 0;
    this.status.textContent = "Uploading…";
    this.upload = client.submitJob(
      {
        file,
        fileName: file.name,
        fps,
        transcript: this.transcriptInput.files?.[0] ?? null,
        externalId: this.externalIdInput.value.trim(),
        retainVideo: this.retainInput.checked,
        everyFace: this.facesInput.checked,
      },
      (loaded, total) => {
        this.progress.value = total ? loaded / total : 0;
        this.status.textContent =
          loaded >= total ? "Checking the video…" : `Uploading… ${Math.floor((loaded / total) * 100)}%`;
      },
    );
    try {
      const job = await this.upload.done;
      this.status.textContent = "";
      announce(this.announcer, "Upload complete. The job is queued.");
      this.reset();
      this.callbacks.onSubmitted(job);
    } catch (error) {
      this.status.textContent = "";
      if (isUnauthorized(error)) this.callbacks.onUnauthorized(describeError(error));
      else if (error instanceof ApiError && error.status === 0) this.error.textContent = describeError(error);
      else this.error.textContent = `Upload rejected: ${describeError(error)}`;
      this.submitButton.disabled = !this.file;
    } finally {
      this.upload = null;
      this.cancelButton.hidden = true;
      this.progress.hidden = true;
    }
  }

  private reset(): void {
    this.file = null;
    this.form.reset();
    this.chosen.textContent = "No recording chosen yet.";
    this.submitButton.disabled = true;
  }
}
