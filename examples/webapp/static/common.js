// Shared by the app's pages: the log of what the page saw, the AuthFinishStep, backend calls.
'use strict';

// Tests read this (tests/browser); people can read the same lines in the browser console.
window.__events = [];

function record(type, detail) {
  const event = { type, ...detail };
  window.__events.push(event);
  console.info('[webapp]', JSON.stringify(event));
}

// What the app gets from an SDK error: AuthError, OtpError and PhoneValidationError carry a code.
function errorInfo(error) {
  if (!error) return null;
  return { name: error.name ?? null, code: error.code ?? null, message: String(error.message ?? error) };
}

function showStep(id) {
  for (const step of document.querySelectorAll('.step')) step.hidden = step.id !== id;
}

async function backend(path, body) {
  const reply = await fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body ?? {}),
  });
  const json = await reply.json();
  if (!reply.ok) throw Object.assign(new Error(json.message ?? `HTTP ${reply.status}`), { code: json.code ?? null });
  return json;
}

// The AuthFinishStep: the SDK is done with the phone. Only the backend learns the outcome from
// Prove (/v3/verify-status); the SDK never says whether possession succeeded.
async function finishStep({ authId }) {
  record('finish', { authId });
  await showVerifyStatus('');
}

async function showVerifyStatus(prefix) {
  const result = document.getElementById('result');
  try {
    const status = await backend('/api/verify-status');
    record('status', { status });
    const verdict = { true: 'Your phone is verified.', false: 'Verification failed.' }[status.success]
      ?? 'Verification is still pending.';
    result.textContent = `${prefix}${verdict} (possession: ${status.possessionResult}, data: ${status.verifyResult})`;
  } catch (error) {
    record('status-error', errorInfo(error));
    result.textContent = `${prefix}Could not read the result: ${error.message}`;
  }
}
