// The release of Hearth, reported by `hearth --version`, /metrics and XEP-0092. Its own
// file so modules can import it without importing the composition root (src/server.ts).
export const VERSION = '0.1.0';
