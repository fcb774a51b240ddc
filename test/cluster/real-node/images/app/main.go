// The real node's app server: a small HTTP server the forward and expose e2e tests reach through
// real containers. Listens on $PORT (default 8080).
//
//	GET  /          "app <hostname>\n" (the pod's name: tests see which pod answered)
//	POST /echo      the request body back, streamed
//	GET  /bytes?n=N N deterministic bytes (byte i = i*31+7 mod 251)
//	GET  /reset     half of 1 MiB, then a TCP RST (SO_LINGER 0) mid-body
package main

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
)

func pattern(w io.Writer, n int64) error {
	buf := make([]byte, 64*1024)
	for off := int64(0); off < n; {
		chunk := min(int64(len(buf)), n-off)
		for i := int64(0); i < chunk; i++ {
			buf[i] = byte(((off+i)*31 + 7) % 251)
		}
		if _, err := w.Write(buf[:chunk]); err != nil {
			return err
		}
		off += chunk
	}
	return nil
}

func main() {
	host, _ := os.Hostname()
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintf(w, "app %s\n", host) })
	http.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = io.Copy(w, r.Body)
	})
	http.HandleFunc("/bytes", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
		if err != nil || n < 0 {
			http.Error(w, "n must be a byte count", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		_ = pattern(w, n)
	})
	http.HandleFunc("/reset", func(w http.ResponseWriter, _ *http.Request) {
		conn, rw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		const total = 1 << 20
		fmt.Fprintf(rw, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", total)
		_ = pattern(rw, total/2)
		_ = rw.Flush()
		if tcp, ok := conn.(*net.TCPConn); ok {
			_ = tcp.SetLinger(0)
		}
		_ = conn.Close()
	})
	log.Printf("app %s listening on :%s", host, port)
	log.Fatal(http.ListenAndServe(":"+port, nil))
}
