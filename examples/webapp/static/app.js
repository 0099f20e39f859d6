// The verification page: the backend starts a flow, then the Web SDK runs it with this page's UI.
'use strict';

const { AuthenticatorBuilder, DeviceRole, OtpFinishResultType, InstantLinkResultType } = proveAuth;
const $ = (id) => document.getElementById(id);

let config = { instantLinkRetry: false, phonePage: null };
let pendingAnswer = null; // resolves the SDK step that waits for the customer
let running = null; // authenticate()'s CancelablePromise
let cancelled = false;

// Show a step and wait for the customer's {action, value}.
function ask(stepId, error) {
  showStep(stepId);
  $(`${stepId}-error`).textContent = error ? error.message : '';
  return new Promise((resolve) => { pendingAnswer = resolve; });
}

function answer(action, value) {
  const resolve = pendingAnswer;
  pendingAnswer = null;
  resolve?.({ action, value });
}

// OtpStartStep / InstantLinkStartStep. The backend gave Prove the number, so the SDK only needs
// one after "change number" or when the server refused the one typed.
async function phoneStep(kind, phoneNumberNeeded, phoneValidationError) {
  record(`${kind}-start`, { phoneNumberNeeded, error: errorInfo(phoneValidationError) });
  if (!phoneNumberNeeded && !phoneValidationError) return null;
  $('new-phone').value = '';
  const { action, value } = await ask('phone-step', phoneValidationError);
  if (action === 'cancel') throw new Error('user cancelled');
  return { phoneNumber: value.trim() };
}

function otpStart(phoneNumberNeeded, phoneValidationError) {
  return phoneStep('otp', phoneNumberNeeded, phoneValidationError);
}

async function otpFinish(otpError) {
  record('otp-prompt', { error: errorInfo(otpError) });
  $('otp').value = '';
  const { action, value } = await ask('otp-step', otpError);
  switch (action) {
    case 'submit': return { resultType: OtpFinishResultType.OnSuccess, input: { otp: value.trim() } };
    case 'resend': return { resultType: OtpFinishResultType.OnResendOtp };
    case 'change': return { resultType: OtpFinishResultType.OnMobileNumberChange };
    default: throw new Error('user cancelled otp');
  }
}

async function instantLinkStart(phoneNumberNeeded, phoneValidationError) {
  const input = await phoneStep('link', phoneNumberNeeded, phoneValidationError);
  showStep('link-step');
  return input;
}

// Only with --instant-link-retry: the SDK calls it once the link is sent.
async function instantLinkRetry() {
  record('link-retry');
  $('link-retry').hidden = false;
  const { action } = await ask('link-step');
  return action === 'change' ? InstantLinkResultType.OnMobileNumberChange : InstantLinkResultType.OnResend;
}

// cancel() still calls AuthFinishStep (SDK 3.6.2, web-sdk-protocol §7.5): the customer left, so
// there is nothing to finish.
function finishUnlessCancelled(input) {
  if (!cancelled) return finishStep(input);
  record('finish-after-cancel', input);
  return Promise.resolve();
}

// As Prove's guides build them: OTP in the default (primary) role on a phone, Instant Link in the
// secondary role on a computer.
function authenticatorFor(method) {
  if (method === 'otp') {
    return new AuthenticatorBuilder()
      .withAuthFinishStep(finishUnlessCancelled)
      .withOtpFallback(otpStart, otpFinish)
      .build();
  }
  return new AuthenticatorBuilder()
    .withRole(DeviceRole.Secondary)
    .withInstantLinkFallback(instantLinkStart, config.instantLinkRetry ? instantLinkRetry : undefined)
    .withAuthFinishStep(finishUnlessCancelled)
    .build();
}

function chosenMethod() {
  const chosen = $('method').value;
  if (chosen !== 'auto') return chosen;
  return new AuthenticatorBuilder().build().isMobileWeb() ? 'otp' : 'instant-link';
}

// Only against the emulator: its phone page, where the number's SMS (the code or the link) shows up.
function showPhoneHint(phoneNumber) {
  for (const hint of document.querySelectorAll('.phone-hint')) {
    hint.hidden = !config.phonePage;
    hint.querySelector('a').href = `${config.phonePage}/${encodeURIComponent(phoneNumber)}`;
  }
}

function readyForAnother() {
  showStep('start-form');
  $('start').disabled = false;
}

async function start(event) {
  event.preventDefault();
  $('start').disabled = true;
  $('result').textContent = '';
  cancelled = false;
  const method = chosenMethod();
  record('start', { method });
  let flow;
  try {
    flow = await backend('/api/verify', {
      phoneNumber: $('phone').value.trim(),
      firstName: $('first-name').value.trim(),
      lastName: $('last-name').value.trim(),
      possessionType: method === 'otp' ? 'mobile' : 'desktop',
      allowOTPRetry: $('allow-otp-retry').checked,
    });
  } catch (error) {
    record('verify-error', errorInfo(error));
    $('result').textContent = error.message;
    readyForAnother();
    return;
  }
  const eventsBefore = window.__events.length;
  record('verify', { correlationId: flow.correlationId });
  showPhoneHint($('phone').value.trim());
  $('link-retry').hidden = true;
  running = authenticatorFor(method).authenticate(flow.authToken);
  running.then(
    () => {
      record('resolved');
      // Resolved without AuthFinishStep: a same-device Instant Link, finished on the landing page.
      const finished = window.__events.slice(eventsBefore).some((e) => e.type === 'finish');
      if (!finished && !cancelled) $('result').textContent = 'Open the link on this phone to finish.';
      readyForAnother();
    },
    async (error) => {
      record('rejected', errorInfo(error));
      readyForAnother();
      await showVerifyStatus(`Stopped: ${error.message}. `);
    },
  );
}

$('start-form').addEventListener('submit', start);
$('phone-step').addEventListener('submit', (event) => { event.preventDefault(); answer('submit', $('new-phone').value); });
$('phone-cancel').addEventListener('click', () => answer('cancel'));
$('otp-step').addEventListener('submit', (event) => { event.preventDefault(); answer('submit', $('otp').value); });
$('otp-resend').addEventListener('click', () => answer('resend'));
$('otp-change').addEventListener('click', () => answer('change'));
$('otp-cancel').addEventListener('click', () => answer('cancel'));
$('link-resend').addEventListener('click', () => answer('resend'));
$('link-change').addEventListener('click', () => answer('change'));
$('link-cancel').addEventListener('click', () => {
  record('cancel');
  cancelled = true;
  running?.cancel();
  $('result').textContent = 'Cancelled.';
});

fetch('/api/config').then((reply) => reply.json()).then((loaded) => {
  config = loaded;
  $('start').disabled = false;
  record('ready', { mobile: new AuthenticatorBuilder().build().isMobileWeb() });
});
