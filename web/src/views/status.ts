// Job status words: always text, so colour is never the only cue.
import type { Job, JobStatus } from "../types";

const LABELS: Record<JobStatus, string> = {
  queued: "Queued",
  running: "Running",
  succeeded: "Finished",
  failed: "Failed",
  cancelled: "Cancelled",
};

export function statusLabel(status: JobStatus): string {
  return LABELS[status] ?? status;
}

export function isActive(job: Job): boolean {
  return job.status === "queued" || job.status === "running";
}

export function jobName(job: Job): string {
  return job.external_id || `Job ${job.id.slice(0, 8)}`;
}
