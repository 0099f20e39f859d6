// The Unify page: the backend starts a /v3/unify flow, then the Web SDK runs the steps its authToken
// starts at. On a phone (the default, primary role) that is the Prove Key (device/passive: register
// on a first visit, prove it on later ones), Mobile Auth (mobile/instant) or an OTP; on a computer,
// Instant Link (the secondary role). The backend reads the outcome from /v3/unify-status.
'use strict';

const { AuthenticatorBuilder, DeviceRole, OtpFinishResultType } = proveAuth;
const $ = (id) => document.getElementById(id);

let pendingAnswer = null; // resolves the SDK step that waits for the customer

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

// OtpStartStep: the backend gave Prove the number (mnp), so the SDK asks for none.
function otpStart(phoneNumberNeeded, phoneValidationError) {
  record('otp-start', { phoneNumberNeeded, error: errorInfo(phoneValidationError) });
  return Promise.resolve(null);
}

async function otpFinish(otpError) {
  record('otp-prompt', { error: errorInfo(otpError) });
  $('otp').value = '';
  const { action, value } = await ask('otp-step', otpError);
  switch (action) {
    case 'submit': return { resultType: OtpFinishResultType.OnSuccess, input: { otp: value.trim() } };
    case 'resend': return { resultType: OtpFinishResultType.OnResendOtp };
    default: throw new Error('user cancelled otp');
  }
}

async function instantLinkStart() {
  showStep('link-step');
  return null;
}

// The AuthFinishStep: only the backend learns the outcome, from /v3/unify-status.
async function unifyFinish({ authId }) {
  record('finish', { authId });
  await showUnifyStatus('');
}

async function showUnifyStatus(prefix) {
  try {
    const status = await backend('/api/unify-status');
    record('status', { status });
    const verdict = { true: 'You are signed in.', false: 'We could not verify your phone.',
      possession_required: 'Your own possession check is needed.' }[status.success] ?? 'Still pending.';
    $('result').textContent = `${prefix}${verdict}` + (status.deviceId ? ` (this device: ${status.deviceId})` : '');
  } catch (error) {
    record('status-error', errorInfo(error));
    $('result').textContent = `${prefix}Could not read the result: ${error.message}`;
  }
}

function authenticator(possession) {
  if (possession === 'desktop') {
    return new AuthenticatorBuilder()
      .withRole(DeviceRole.Secondary)
      .withInstantLinkFallback(instantLinkStart)
      .withAuthFinishStep(unifyFinish)
      .build();
  }
  return new AuthenticatorBuilder()
    .withAuthFinishStep(unifyFinish)
    .withOtpFallback(otpStart, otpFinish)
    .build();
}

function chosenPossession() {
  const chosen = $('possession').value;
  if (chosen !== 'auto') return chosen;
  return new AuthenticatorBuilder().build().isMobileWeb() ? 'mobile' : 'desktop';
}

function readyForAnother() {
  showStep('start-form');
  $('start').disabled = false;
}

// What the SDK keeps in this browser: the deviceId of its Prove Key (null without one).
function recordDevice() {
  record('device', { deviceId: new AuthenticatorBuilder().build().getDeviceId() });
}

async function start(event) {
  event.preventDefault();
  $('start').disabled = true;
  $('result').textContent = '';
  const possession = chosenPossession();
  record('start', { possession });
  let flow;
  try {
    flow = await backend('/api/unify', {
      phoneNumber: $('phone').value.trim(),
      possessionType: possession,
      rebind: $('rebind').checked,
    });
  } catch (error) {
    record('unify-error', errorInfo(error));
    $('result').textContent = error.message;
    readyForAnother();
    return;
  }
  record('unify', { correlationId: flow.correlationId });
  authenticator(possession).authenticate(flow.authToken).then(
    () => { record('resolved'); recordDevice(); readyForAnother(); },
    async (error) => {
      record('rejected', errorInfo(error));
      recordDevice();
      readyForAnother();
      await showUnifyStatus(`Stopped: ${error.message}. `);
    },
  );
}

async function unregister() {
  try {
    await new AuthenticatorBuilder().withAuthFinishStep(() => Promise.resolve()).build().unregisterDevice();
    record('unregistered');
    $('result').textContent = 'This device is forgotten.';
  } catch (error) {
    record('unregister-error', errorInfo(error));
    $('result').textContent = `Could not forget this device: ${error.message}`;
  }
  recordDevice();
}

$('start-form').addEventListener('submit', start);
$('unregister').addEventListener('click', unregister);
$('otp-step').addEventListener('submit', (event) => { event.preventDefault(); answer('submit', $('otp').value); });
$('otp-resend').addEventListener('click', () => answer('resend'));
$('otp-cancel').addEventListener('click', () => answer('cancel'));

$('start').disabled = false;
$('unregister').disabled = false;
recordDevice();
record('ready', { mobile: new AuthenticatorBuilder().build().isMobileWeb() });
