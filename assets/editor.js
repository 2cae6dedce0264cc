// HUMMBL step editor: insert an offered reference into a prompt at the cursor.
// The editor works without this; it saves typing the braces right.

for (const button of document.querySelectorAll("button[data-insert]")) {
  button.disabled = false;
  button.addEventListener("click", () => {
    const prompt = document.getElementById(button.dataset.target);
    if (!prompt) return;
    const text = button.dataset.insert;
    const start = prompt.selectionStart ?? prompt.value.length;
    const end = prompt.selectionEnd ?? start;
    prompt.setRangeText(text, start, end, "end");
    prompt.focus();
    // Reading a step's output means waiting for it: tick that step.
    const step = button.dataset.step;
    if (step) {
      const name = `steps[${button.dataset.index}].depends_on`;
      for (const box of document.getElementsByName(name)) {
        if (box.value === step) box.checked = true;
      }
    }
  });
}
