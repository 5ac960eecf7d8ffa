/* The pages' few behaviours, kept out of the HTML so that the Content-Security-Policy allows no inline
   script (web/security_headers.py). */
document.addEventListener("DOMContentLoaded", function () {
  /* Changing the process reloads the list, so that the step filter offers that process's steps. */
  document.querySelectorAll("select[data-autosubmit]").forEach(function (el) {
    el.addEventListener("change", function () { el.form.submit(); });
  });
  document.querySelectorAll("button[data-print]").forEach(function (el) {
    el.addEventListener("click", function () { window.print(); });
  });
});
