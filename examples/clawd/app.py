"""clawd's API, in miniature: messages in SQLite under $DATA_DIR (never in the checkout)."""
import json
import os
import sqlite3
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DB = os.path.join(os.environ["DATA_DIR"], "clawd.db")
with sqlite3.connect(DB) as db:
    db.execute("create table if not exists messages (id integer primary key, text text not null)")


class Handler(BaseHTTPRequestHandler):
    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            return self.reply(200, {"status": "ok"})
        if self.path == "/messages":
            with sqlite3.connect(DB) as db:
                rows = db.execute("select id, text from messages order by id").fetchall()
            return self.reply(200, {"messages": [{"id": i, "text": t} for i, t in rows], "db": DB, "env": os.environ.get("CLAWD_ENV", "production")})
        self.reply(404, {"error": "not found"})

    def do_POST(self):
        if self.path != "/messages":
            return self.reply(404, {"error": "not found"})
        text = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
        with sqlite3.connect(DB) as db:
            cur = db.execute("insert into messages (text) values (?)", (text,))
        self.reply(201, {"id": cur.lastrowid, "text": text})

    def log_message(self, fmt, *args):
        print(fmt % args, flush=True)


port = int(os.environ["PORT"])
print(f"clawd api on {port}, database {DB}", flush=True)
ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
