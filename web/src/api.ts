// The one place the page talks to the REST API. The key travels only in the Authorization
// header, never in a URL, so downloads are fetched here and saved as Blobs.
import type { AnalysisSummary, ErrorBody, Frame, FramePage, Job, JobPage } from "./types";

/** An API answer that was not a success, or no answer at all (status 0, code network_error). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

function isErrorBody(value: unknown): value is ErrorBody {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as ErrorBody).code === "string" &&
    typeof (value as ErrorBody).message === "string"
  );
}

/** A proxy in front of the API may answer 413 or 502 with HTML; keep the status, drop the body. */
function errorFrom(status: number, body: unknown): ApiError {
  if (isErrorBody(body)) return new ApiError(status, body.code, body.message);
  return new ApiError(status, `http_${status}`, `The service answered with HTTP status ${status}.`);
}

async function readErrorBody(response: Response): Promise<unknown> {
  try {
    return await response.json();
  } catch {
    return null;
  }
}

export interface UploadRequest {
  file: Blob;
  fileName: string;
  fps: number;
  transcript: File | null;
  externalId: string;
  retainVideo: boolean;
  everyFace?: boolean;
}

export interface UploadHandle {
  done: Promise<Job>;
  abort: () => void;
}

export class ApiClient {
  private readonly key: string;
  private readonly baseUrl: string;

  constructor(key: string, baseUrl = "") {
    this.key = key;
    this.baseUrl = baseUrl;
  }

  private async request(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set("Authorization", `Bearer ${this.key}`);
    if (!headers.has("Accept")) headers.set("Accept", "application/json");
    let response: Response;
    try {
      response = await fetch(this.baseUrl + path, { ...init, headers, cache: "no-store" });
    } catch {
      throw new ApiError(0, "network_error", "The emotrace service could not be reached.");
    }
    if (!response.ok) throw errorFrom(response.status, await readErrorBody(response));
    return response;
  }

  private async json<T>(path: string, init: RequestInit = {}): Promise<T> {
    return (await (await this.request(path, init)).json()) as T;
  }

  listJobs(limit = 50, cursor: string | null = null): Promise<JobPage> {
    const query = new URLSearchParams({ limit: String(limit) });
    if (cursor) query.set("cursor", cursor);
    return this.json<JobPage>(`/v1/jobs?${query}`);
  }

  getJob(id: string): Promise<Job> {
    return this.json<Job>(`/v1/jobs/${encodeURIComponent(id)}`);
  }

  getSummary(id: string): Promise<AnalysisSummary> {
    return this.json<AnalysisSummary>(`/v1/jobs/${encodeURIComponent(id)}/summary`);
  }

  /** Every frame of a finished job, page by page (an hour at 2 fps is about 7 pages); with
   * `participant`, that person's face in each frame instead of the main subject's. */
  async getAllFrames(id: string, onPage?: (loaded: number) => void, participant?: string): Promise<Frame[]> {
    const frames: Frame[] = [];
    let cursor: string | null = null;
    do {
      const query = new URLSearchParams({ limit: "1000" });
      if (cursor) query.set("cursor", cursor);
      if (participant) query.set("participant", participant);
      const page: FramePage = await this.json<FramePage>(`/v1/jobs/${encodeURIComponent(id)}/frames?${query}`);
      frames.push(...page.items);
      onPage?.(frames.length);
      cursor = page.next_cursor;
    } while (cursor);
    return frames;
  }

  async getFramesCsv(id: string): Promise<Blob> {
    const response = await this.request(`/v1/jobs/${encodeURIComponent(id)}/frames`, {
      headers: { Accept: "text/csv" },
    });
    return response.blob();
  }

  /** Stops a queued or running job; it stays in the list as cancelled, with no results. */
  cancelJob(id: string): Promise<Job> {
    return this.json<Job>(`/v1/jobs/${encodeURIComponent(id)}/cancel`, { method: "POST" });
  }

  async deleteJob(id: string): Promise<void> {
    await this.request(`/v1/jobs/${encodeURIComponent(id)}`, { method: "DELETE" });
  }

  /** XMLHttpRequest rather than fetch: only XHR reports upload progress in today's browsers. */
  submitJob(upload: UploadRequest, onProgress: (loaded: number, total: number) => void): UploadHandle {
    const form = new FormData();
    form.append("file", upload.file, upload.fileName);
    form.append("fps", String(upload.fps));
    if (upload.transcript) form.append("transcript", upload.transcript, upload.transcript.name);
    if (upload.externalId) form.append("external_id", upload.externalId);
    form.append("retain_video", upload.retainVideo ? "true" : "false");
    if (upload.everyFace) form.append("faces", "all");

    const xhr = new XMLHttpRequest();
    const done = new Promise<Job>((resolve, reject) => {
      xhr.open("POST", `${this.baseUrl}/v1/jobs`);
      xhr.setRequestHeader("Authorization", `Bearer ${this.key}`);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.responseType = "text";
      xhr.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) onProgress(event.loaded, event.total);
      });
      xhr.addEventListener("load", () => {
        let body: unknown = null;
        try {
          body = JSON.parse(xhr.responseText);
        } catch {
          body = null;
        }
        if (xhr.status >= 200 && xhr.status < 300 && body) resolve(body as Job);
        else reject(errorFrom(xhr.status, body));
      });
      xhr.addEventListener("error", () =>
        reject(new ApiError(0, "network_error", "The upload was interrupted: the service could not be reached.")),
      );
      xhr.addEventListener("abort", () => reject(new ApiError(0, "upload_aborted", "The upload was cancelled.")));
      xhr.send(form);
    });
    return { done, abort: () => xhr.abort() };
  }
}
