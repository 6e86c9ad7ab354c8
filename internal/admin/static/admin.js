// membersync admin: the little script the pages use (served from 'self'; the CSP allows no inline
// script). Forms marked data-confirm ask first; a secret shown once is selected for copying.
"use strict";
document.addEventListener("submit", function (ev) {
  var msg = ev.target.getAttribute("data-confirm");
  if (msg && !window.confirm(msg)) {
    ev.preventDefault();
  }
});
document.addEventListener("DOMContentLoaded", function () {
  var secret = document.getElementById("secret-value");
  if (secret) {
    secret.focus();
    secret.select();
  }
});
