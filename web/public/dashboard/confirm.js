// A confirmation for destructive actions, on the native <dialog> (modal, focus kept inside,
// Escape answers "no"). The safe answer has the focus, so a stray Enter does no harm.
import { $ } from "./dom.js";

/** Resolves to true only when the user chooses the confirming button. */
export function confirmAction({ title, body, confirm, keep }) {
  const dialog = $("confirm");
  $("confirm-title").textContent = title;
  $("confirm-body").textContent = body;
  $("confirm-yes").textContent = confirm;
  $("confirm-no").textContent = keep;
  const opener = document.activeElement;
  return new Promise((resolve) => {
    const answer = (value) => () => dialog.close(value);
    const yes = answer("yes");
    const no = answer("no");
    $("confirm-yes").addEventListener("click", yes);
    $("confirm-no").addEventListener("click", no);
    dialog.addEventListener(
      "close",
      () => {
        $("confirm-yes").removeEventListener("click", yes);
        $("confirm-no").removeEventListener("click", no);
        if (opener instanceof HTMLElement && opener.isConnected) opener.focus();
        resolve(dialog.returnValue === "yes");
      },
      { once: true },
    );
    dialog.returnValue = "";
    dialog.showModal();
    $("confirm-no").focus();
  });
}
