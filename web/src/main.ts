// Page wiring: the key gate, and two views chosen by the URL hash: "#/" (new analysis and job
// list) and "#/jobs/<id>" (one job). Hash routes need nothing from the server but index.html.
import "./styles.css";

import { ApiClient } from "./api";
import { announce, byId } from "./dom";
import { describeError, isUnauthorized } from "./messages";
import { forgetKey, loadKey, saveKey } from "./session";
import { JobDetail } from "./views/jobDetail";
import { JobList } from "./views/jobList";
import { SubmitForm } from "./views/submit";

const keyView = byId("key-view");
const homeView = byId("home-view");
const jobView = byId("job-view");
const keyForm = byId<HTMLFormElement>("key-form");
const keyInput = byId<HTMLInputElement>("key-input");
const keySubmit = byId<HTMLButtonElement>("key-submit");
const keyError = byId("key-error");
const keyStatus = byId("key-status");
const keyLabel = byId("key-label");
const announcer = byId("announcer");

let client: ApiClient | null = null;

/** A rejected key (revoked mid-session, say) sends the person back to the gate with the reason. */
function signOut(reason = ""): void {
  client = null;
  forgetKey();
  jobList.clear();
  jobDetail.hide();
  keyStatus.hidden = true;
  homeView.hidden = true;
  keyView.hidden = false;
  keyError.textContent = reason;
  keyInput.value = "";
  keyInput.focus();
}

const callbacks = { client: () => client, onUnauthorized: (message: string) => signOut(message) };
const jobList = new JobList(callbacks);
const jobDetail = new JobDetail(jobView, callbacks);
new SubmitForm({ ...callbacks, onSubmitted: (job) => jobList.add(job) });

function signIn(key: string): void {
  client = new ApiClient(key);
  keyView.hidden = true;
  keyError.textContent = "";
  keyStatus.hidden = false;
  // Enough of the key to tell two apart, never enough to reuse it from a screenshot.
  keyLabel.textContent = `Key …${key.slice(-4)}`;
  route();
}

function route(): void {
  if (!client) return;
  const match = /^#\/jobs\/([^/]+)$/.exec(window.location.hash);
  if (match) {
    homeView.hidden = true;
    jobList.stop();
    jobDetail.show(decodeURIComponent(match[1]));
  } else {
    jobDetail.hide();
    homeView.hidden = false;
    jobList.start();
  }
}

/** Proves the key with one cheap authenticated call, then signs in; a refused key is reported on
 * the sign-in form. */
async function tryKey(key: string): Promise<void> {
  keySubmit.disabled = true;
  keyError.textContent = "";
  try {
    await new ApiClient(key).listJobs(1);
    saveKey(key);
    keyInput.value = "";
    signIn(key);
    announce(announcer, "Signed in.");
    byId("main").focus();
  } catch (error) {
    keyView.hidden = false;
    keyError.textContent = isUnauthorized(error)
      ? `Wrong API key: ${describeError(error)}`
      : `The key could not be checked: ${describeError(error)}`;
    keyInput.focus();
    keyInput.select();
  } finally {
    keySubmit.disabled = false;
  }
}

keyForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const key = keyInput.value.trim();
  if (!key) {
    keyError.textContent = "Enter an API key.";
    keyInput.focus();
    return;
  }
  void tryKey(key);
});

/** A sign-in link (`/#key=...`, printed by a first `emotrace serve`): the fragment never reaches
 * the server, and it is taken out of the address bar and history at once, before anything else
 * runs, so it is not left on screen, in a bookmark or in a shared link. */
function keyFromFragment(): string | null {
  const match = /^#key=([^&]+)$/.exec(window.location.hash);
  if (!match) return null;
  window.history.replaceState(null, "", window.location.pathname + window.location.search + "#/");
  try {
    return decodeURIComponent(match[1]).trim() || null;
  } catch {
    return null;
  }
}

byId("forget-key").addEventListener("click", () => signOut());
window.addEventListener("hashchange", route);

const linked = keyFromFragment();
const stored = loadKey();
if (linked) {
  signOut();
  void tryKey(linked);
} else if (stored) signIn(stored);
else signOut();
