// GraphiQL (the npm `graphiql` package, with React), served at /graphql where the settings allow
// it (api/graphql_http.py). Its Monaco editors' language workers are bundled by Vite as files of
// this origin (`graphiql/setup-workers/vite`), so nothing loads from a CDN.
import "graphiql/setup-workers/vite";
import "graphiql/style.css";
import { createGraphiQLFetcher } from "@graphiql/toolkit";
import { GraphiQL } from "graphiql";
import { createElement } from "react";
import { createRoot } from "react-dom/client";

const scheme = location.protocol === "https:" ? "wss:" : "ws:";
const fetcher = createGraphiQLFetcher({
  url: `${location.origin}/graphql`,
  subscriptionUrl: `${scheme}//${location.host}/graphql`,
});

createRoot(document.getElementById("graphiql") as HTMLElement).render(
  createElement(GraphiQL, { fetcher, defaultEditorToolsVisibility: true }),
);
