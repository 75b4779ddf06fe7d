/**
 * Crashes already found, owned by another slice and not fixed here: the live
 * fuzz logs them instead of failing, and their corpus cases are `todo` until
 * the owner's fix lands (then delete the entry and the `todo`).
 */
const KNOWN: ReadonlyArray<{ readonly stack: RegExp; readonly owner: string }> = [
  {
    // Unhandled rejection out of forwardOne (request body: sendBody; response body: forwardBody) on a peer closing mid-message.
    // The async stack is sometimes cut after ByteReader.forward; its message is the same.
    stack: /at (?:forwardOne|forwardBody|sendBody) \(.*src\/ingress\/front\/http-proxy\.js|peer closed in the middle of a message\n\s+at ByteReader\.forward /,
    owner: 'crash in src/ingress/front/http-proxy.ts forwardOne (unhandled rejection when a peer closes mid-body), fixed by http-front',
  },
];

export function knownCrash(errorText: string): string | undefined {
  return KNOWN.find((k) => k.stack.test(errorText))?.owner;
}
