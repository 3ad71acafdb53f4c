// The API key lives in sessionStorage only: it goes when the tab closes and never reaches disk
// through localStorage or a cookie.
const STORAGE_KEY = "emotrace.apiKey";

export function loadKey(): string | null {
  try {
    return window.sessionStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

export function saveKey(key: string): void {
  try {
    window.sessionStorage.setItem(STORAGE_KEY, key);
  } catch {
    // Storage disabled: the key then lasts as long as the page, which is still session-only.
  }
}

export function forgetKey(): void {
  try {
    window.sessionStorage.removeItem(STORAGE_KEY);
  } catch {
    // Nothing stored.
  }
}
