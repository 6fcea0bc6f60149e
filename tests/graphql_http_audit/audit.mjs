// Run graphql-http's GraphQL-over-HTTP server audits against one URL and print the results as JSON.
//
//   node audit.mjs http://127.0.0.1:8000/graphql
//
// Prints {"url", "results": [{id, name, requirement, status, reason?, responseStatus?, contentType?}]}
// on stdout and exits 0 whenever the audits ran (the caller judges them); exits 2 on bad usage and
// 1 when the audits could not run at all (for example the server is unreachable).
import { auditServer } from 'graphql-http';

const url = process.argv[2];
if (!url || process.argv.length > 3) {
  console.error('usage: node audit.mjs <graphql endpoint URL>');
  process.exit(2);
}

try {
  const results = await auditServer({ url });
  const rows = results.map((result) => {
    const row = {
      id: result.id,
      name: result.name,
      requirement: result.name.split(' ', 1)[0],
      status: result.status,
    };
    if (result.status !== 'ok') {
      // A failed audit keeps the response it judged: its status and media type say most of why.
      row.reason = result.reason;
      row.responseStatus = result.response?.status;
      row.contentType = result.response?.headers?.get('content-type') ?? null;
    }
    return row;
  });
  process.stdout.write(JSON.stringify({ url, results: rows }, null, 2) + '\n');
} catch (error) {
  // auditServer throws only when an audit could not be carried out (not when one fails).
  console.error(`audit could not run against ${url}: ${error?.stack ?? error}`);
  process.exit(1);
}
