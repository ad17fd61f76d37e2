// digirec web pages: progressive enhancement only -- every page works without this file.
// Events go to the same-origin proxy /web/events; no API key is ever present in the page.
(function () {
  "use strict";

  function postEvent(payload, keepalive) {
    return fetch("/web/events", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(payload),
      credentials: "same-origin",
      // keepalive: a click event must survive the navigation it starts.
      keepalive: Boolean(keepalive),
    });
  }

  // 1. A known shopper's click on a product link is recorded as a click event. Anonymous
  //    visitors need nothing: opening the product page adds it to the session.
  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a[data-track]") : null;
    var user = document.body.dataset.user;
    if (!link || !user) {
      return;
    }
    postEvent({ user_id: user, item_id: link.dataset.itemId, event: "click" }, true)
      .catch(function () { /* the navigation matters more than the event */ });
  });

  // 2. Cart and buy buttons post without reloading the page and say what happened in a
  //    live region (screen readers announce it).
  function capitalised(word) {
    return word.charAt(0).toUpperCase() + word.slice(1);
  }

  document.querySelectorAll("form.event-form").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var status = document.getElementById("event-status");
      var button = event.submitter || form.querySelector("button");
      var data = new FormData(form);
      var kind = data.get("event");
      // aria-disabled rather than disabled: a disabled button loses the keyboard focus
      // (it drops to <body>), and the shopper should stay on the button they pressed.
      if (button.getAttribute("aria-disabled") === "true") {
        return;
      }
      button.setAttribute("aria-disabled", "true");
      postEvent({
        user_id: data.get("user_id"),
        item_id: data.get("item_id"),
        event: kind,
      })
        .then(function (response) {
          return response.json().then(function (body) {
            if (!response.ok) {
              throw new Error(body && body.error ? body.error.message : String(response.status));
            }
            return body;
          });
        })
        .then(function (body) {
          status.classList.remove("failed");
          // Anonymous events are kept in this browser session only: say so.
          var key = "done" + capitalised(kind) + (body.stored ? "" : "Session");
          status.textContent = (status.dataset[key] || status.dataset["done" + capitalised(kind)]) + " ";
          if (kind === "purchase" && body.stored) {
            var back = document.createElement("a");
            back.href = status.dataset.shopUrl;
            back.id = "see-updated";
            back.textContent = status.dataset.seeUpdated;
            status.appendChild(back);
          }
        })
        .catch(function (error) {
          status.classList.add("failed");
          status.textContent = status.dataset.failed + status.dataset.colon + error.message;
        })
        .finally(function () {
          button.removeAttribute("aria-disabled");
          button.focus();
        });
    });
  });

  // Wide screens open the filter drawer (phones keep it folded so the products come first).
  var drawer = document.getElementById("filters-drawer");
  if (drawer && window.matchMedia("(min-width: 901px)").matches) {
    drawer.open = true;
  }

  // 3. Admin: show that a retrain is running. The form still submits normally (the key goes
  //    with that one request); the button is marked busy rather than disabled, because a
  //    disabled submitter would drop its action value from the form data.
  var adminForm = document.getElementById("admin-form");
  if (adminForm) {
    adminForm.addEventListener("submit", function (event) {
      if (adminForm.dataset.busy) {
        event.preventDefault();
        return;
      }
      var button = event.submitter;
      if (button && button.dataset.busy) {
        adminForm.dataset.busy = "1";
        button.setAttribute("aria-disabled", "true");
        adminForm.setAttribute("aria-busy", "true");
        button.textContent = button.dataset.busy;
      }
    });
  }
})();
