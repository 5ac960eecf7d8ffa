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
  /* On a phone a list's rows are cards (style.css): each cell is labelled by its column's header. */
  document.querySelectorAll("table.table").forEach(function (table) {
    var heads = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
      return th.textContent.trim();
    });
    table.querySelectorAll("tbody tr").forEach(function (tr) {
      Array.prototype.forEach.call(tr.children, function (td, i) {
        if (td.tagName !== "TD") { return; }
        if (heads[i] && !td.hasAttribute("data-label")) { td.setAttribute("data-label", heads[i]); }
        if (!td.textContent.trim() && !td.querySelector("input, button, img, svg")) { td.classList.add("cell-empty"); }
      });
    });
  });
});
