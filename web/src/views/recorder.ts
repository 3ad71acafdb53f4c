// Webcam capture with MediaRecorder. Video only: the analysis reads faces, so the microphone is
// never asked for.
import { formatClock } from "../format";

const MIME_TYPES = ["video/webm;codecs=vp9", "video/webm;codecs=vp8", "video/webm", "video/mp4"];

function pickMimeType(): string {
  if (typeof MediaRecorder === "undefined") return "";
  return MIME_TYPES.find((type) => MediaRecorder.isTypeSupported(type)) ?? "";
}

export interface RecorderElements {
  preview: HTMLVideoElement;
  cameraButton: HTMLButtonElement;
  recordButton: HTMLButtonElement;
  clock: HTMLElement;
  error: HTMLElement;
}

/** Owns the camera stream: it is stopped as soon as a recording ends or the camera is closed, so
 * the camera light never stays on behind the person's back. */
export class Recorder {
  private readonly el: RecorderElements;
  private readonly onRecorded: (file: File) => void;
  private stream: MediaStream | null = null;
  private recorder: MediaRecorder | null = null;
  private chunks: Blob[] = [];
  private startedAt = 0;
  private timer = 0;

  constructor(el: RecorderElements, onRecorded: (file: File) => void) {
    this.el = el;
    this.onRecorded = onRecorded;
    el.cameraButton.addEventListener("click", () => void this.toggleCamera());
    el.recordButton.addEventListener("click", () => this.toggleRecording());
    if (!navigator.mediaDevices?.getUserMedia || typeof MediaRecorder === "undefined") {
      el.cameraButton.disabled = true;
      el.error.textContent = "This browser cannot record video here (a secure https page is needed).";
    }
  }

  private async toggleCamera(): Promise<void> {
    if (this.stream) {
      this.stopCamera();
      return;
    }
    this.el.error.textContent = "";
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
    } catch (error) {
      const name = error instanceof DOMException ? error.name : "";
      this.el.error.textContent =
        name === "NotAllowedError"
          ? "Camera access was refused. Allow it in the browser's site settings to record."
          : "No camera could be opened.";
      return;
    }
    this.el.preview.srcObject = this.stream;
    this.el.preview.hidden = false;
    void this.el.preview.play().catch(() => undefined);
    this.el.cameraButton.textContent = "Close camera";
    this.el.recordButton.disabled = false;
  }

  private stopCamera(): void {
    if (this.recorder && this.recorder.state !== "inactive") this.recorder.stop();
    this.stream?.getTracks().forEach((track) => track.stop());
    this.stream = null;
    this.el.preview.srcObject = null;
    this.el.preview.hidden = true;
    this.el.cameraButton.textContent = "Start camera";
    this.el.recordButton.disabled = true;
    this.el.recordButton.textContent = "Start recording";
  }

  private toggleRecording(): void {
    if (this.recorder && this.recorder.state === "recording") {
      this.recorder.stop();
      return;
    }
    if (!this.stream) return;
    const mimeType = pickMimeType();
    this.chunks = [];
    this.recorder = new MediaRecorder(this.stream, mimeType ? { mimeType } : undefined);
    this.recorder.addEventListener("dataavailable", (event) => {
      if (event.data.size > 0) this.chunks.push(event.data);
    });
    this.recorder.addEventListener("stop", () => this.finish());
    this.recorder.start(1000);
    this.startedAt = performance.now();
    this.el.recordButton.textContent = "Stop recording";
    this.el.recordButton.setAttribute("aria-pressed", "true");
    this.el.clock.textContent = "● 0:00";
    this.timer = window.setInterval(() => {
      this.el.clock.textContent = `● ${formatClock((performance.now() - this.startedAt) / 1000)}`;
    }, 500);
  }

  private finish(): void {
    window.clearInterval(this.timer);
    this.el.clock.textContent = "";
    this.el.recordButton.textContent = "Start recording";
    this.el.recordButton.removeAttribute("aria-pressed");
    const type = this.recorder?.mimeType || "video/webm";
    const extension = type.startsWith("video/mp4") ? "mp4" : "webm";
    const blob = new Blob(this.chunks, { type: type.split(";")[0] });
    this.chunks = [];
    this.recorder = null;
    this.stopCamera();
    if (blob.size === 0) {
      this.el.error.textContent = "The recording came out empty; try again.";
      return;
    }
    const stamp = new Date().toISOString().replace(/[:.]/g, "-").slice(0, 19);
    this.onRecorded(new File([blob], `webcam-${stamp}.${extension}`, { type: blob.type }));
  }
}
