// Starts Swagger UI on /docs with the service's own description (no inline script: see docs_page.py).
window.onload = function () {
  window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
};
