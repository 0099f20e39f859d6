// The finalTargetUrl. After a same-device Instant Link, Prove (and the emulator) redirect here with
// authId and asc, and finishInstantLink turns them into the AuthFinishStep call. After a desktop
// Instant Link the phone lands here without them: the computer's page finishes the flow.
'use strict';

const params = new URLSearchParams(location.search);
if (params.has('authId')) {
  new proveAuth.AuthenticatorBuilder()
    .withAuthFinishStep(finishStep)
    .build()
    .finishInstantLink(location.href)
    .then(
      () => record('resolved'),
      async (error) => {
        record('rejected', errorInfo(error));
        await showVerifyStatus(`Stopped: ${error.message}. `);
      },
    );
} else {
  record('landed');
  document.getElementById('result').textContent = 'Thank you. Go back to the page where you started.';
}
