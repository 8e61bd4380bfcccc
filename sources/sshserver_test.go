package sources

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// sshRemote is an upstream served over SSH on loopback.
type sshRemote struct {
	url            string
	keyFile        string // the client's private key
	knownHostsFile string // the server's host key
}

// serveSSH serves the upstream over SSH on 127.0.0.1 with an in-process
// server that runs git-upload-pack and git-receive-pack for one client key.
func (u *upstream) serveSSH() sshRemote {
	u.t.Helper()
	for _, bin := range []string{"git-upload-pack", "git-receive-pack"} {
		if _, err := exec.LookPath(bin); err != nil {
			u.t.Skipf("%s not available: %v", bin, err)
		}
	}
	dir := u.t.TempDir()
	hostSigner := newSSHSigner(u.t, "")
	clientSigner := newSSHSigner(u.t, filepath.Join(dir, "id_ed25519"))
	config := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if string(key.Marshal()) != string(clientSigner.PublicKey().Marshal()) {
				return nil, errors.New("unknown key")
			}
			return nil, nil
		},
	}
	config.AddHostKey(hostSigner)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		u.t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
			wg.Go(func() { u.serveSSHConn(conn, config) })
		}
	})
	u.t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})

	addr := ln.Addr().String()
	knownHostsFile := filepath.Join(dir, "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(addr)}, hostSigner.PublicKey())
	if err := os.WriteFile(knownHostsFile, []byte(line+"\n"), 0o600); err != nil {
		u.t.Fatal(err)
	}
	return sshRemote{
		url:            "ssh://git@" + addr + "/" + filepath.Base(u.bare),
		keyFile:        filepath.Join(dir, "id_ed25519"),
		knownHostsFile: knownHostsFile,
	}
}

// newSSHSigner generates an ed25519 key, writing it to keyFile when set.
func newSSHSigner(t testing.TB, keyFile string) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	if keyFile != "" {
		block, err := ssh.MarshalPrivateKey(priv, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return signer
}

func (u *upstream) serveSSHConn(conn net.Conn, config *ssh.ServerConfig) {
	defer conn.Close()
	_, chans, reqs, err := ssh.NewServerConn(conn, config)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	var wg sync.WaitGroup
	defer wg.Wait()
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, requests, err := nc.Accept()
		if err != nil {
			return
		}
		wg.Go(func() { u.serveSSHSession(ch, requests) })
	}
}

// serveSSHSession runs the git command of an exec request, refusing any
// other command or repository.
func (u *upstream) serveSSHSession(ch ssh.Channel, requests <-chan *ssh.Request) {
	defer ch.Close()
	for req := range requests {
		if req.Type != "exec" || len(req.Payload) < 4 {
			req.Reply(req.Type == "env", nil) // go-git may set GIT_PROTOCOL
			continue
		}
		command := string(req.Payload[4:])
		program, repo, _ := strings.Cut(command, " ")
		repo = strings.Trim(repo, "'\"")
		if (program != "git-upload-pack" && program != "git-receive-pack") || strings.TrimPrefix(repo, "/") != filepath.Base(u.bare) {
			req.Reply(false, nil)
			return
		}
		req.Reply(true, nil)
		cmd := exec.Command(program, u.bare)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = ch, ch, ch.Stderr()
		status := uint32(0)
		if err := cmd.Run(); err != nil {
			status = 1
		}
		ch.CloseWrite()
		ch.SendRequest("exit-status", false, binary.BigEndian.AppendUint32(nil, status))
		return
	}
}
