package io.nemu.e2e.vsock.guest;

import com.sun.jna.LastErrorException;
import com.sun.jna.Library;
import com.sun.jna.Memory;
import com.sun.jna.Native;
import java.nio.charset.StandardCharsets;

/**
 * Runs inside the test guest as its "agent": an AF_VSOCK echo server on port 1024 (a thread per
 * connection), and a client that connects to host CID 2 port 1025, sends a line, reads the answer and
 * prints it, retrying while the host refuses. Self-contained (JNA only): it is packed into the guest
 * image as agent.jar.
 */
public final class VsockGuestMain {
    static final int AF_VSOCK = 40;
    static final int SOCK_STREAM = 1;
    static final long VMADDR_CID_ANY = 0xffffffffL;
    static final int ECHO_PORT = 1024;
    static final int HOST_PORT = 1025;

    interface C extends Library {
        int socket(int domain, int type, int protocol) throws LastErrorException;

        int bind(int fd, byte[] addr, int len) throws LastErrorException;

        int listen(int fd, int backlog) throws LastErrorException;

        int accept(int fd, com.sun.jna.Pointer addr, com.sun.jna.Pointer len) throws LastErrorException;

        int connect(int fd, byte[] addr, int len) throws LastErrorException;

        long read(int fd, com.sun.jna.Pointer buf, long n) throws LastErrorException;

        long write(int fd, com.sun.jna.Pointer buf, long n) throws LastErrorException;

        int close(int fd) throws LastErrorException;
    }

    static final C C = Native.load("c", C.class);

    static byte[] addr(long cid, int port) {
        byte[] a = new byte[16];
        a[0] = (byte) AF_VSOCK;
        for (int i = 0; i < 4; i++) {
            a[4 + i] = (byte) (port >>> (8 * i));
            a[8 + i] = (byte) (cid >>> (8 * i));
        }
        return a;
    }

    public static void main(String[] args) throws Exception {
        if (java.util.Arrays.asList(args).contains("--warm-up")) {
            return; // the image builder's AppCDS training run: every agent jar must end it by itself
        }
        Thread serial = new Thread(VsockGuestMain::serialEcho, "serial-echo");
        serial.setDaemon(true);
        serial.start();
        int lfd;
        try {
            lfd = C.socket(AF_VSOCK, SOCK_STREAM, 0);
            byte[] a = addr(VMADDR_CID_ANY, ECHO_PORT);
            C.bind(lfd, a, a.length);
            C.listen(lfd, 64);
        } catch (LastErrorException e) {
            // No vsock in this VM (the benchmark's serial VM): keep the serial echo running.
            System.out.println("no vsock listener: errno " + e.getErrorCode());
            serial.join();
            return;
        }
        System.out.println("VSOCK-ECHO-READY");
        System.out.flush();
        Thread client = new Thread(VsockGuestMain::hostClient, "host-client");
        client.setDaemon(true);
        client.start();
        while (true) {
            int fd = C.accept(lfd, null, null);
            Thread t = new Thread(() -> echo(fd), "echo-" + fd);
            t.setDaemon(true);
            t.start();
        }
    }

    private static void echo(int fd) {
        try (Memory m = new Memory(65536)) {
            while (true) {
                long n = C.read(fd, m, m.size());
                if (n <= 0) {
                    break;
                }
                long off = 0;
                while (off < n) {
                    off += C.write(fd, m.share(off), n - off);
                }
            }
        } catch (LastErrorException e) {
            System.out.println("echo " + fd + ": errno " + e.getErrorCode());
        } finally {
            C.close(fd);
        }
    }

    /** Echoes the virtio-serial agent port, if the VM has one (the benchmark's serial side). */
    private static void serialEcho() {
        java.io.File[] ports = new java.io.File("/sys/class/virtio-ports").listFiles();
        if (ports == null) {
            return;
        }
        for (java.io.File p : ports) {
            try {
                String name = java.nio.file.Files.readString(p.toPath().resolve("name")).strip();
                if (!name.equals("agent.channel.0")) {
                    continue;
                }
                System.out.println("SERIAL-ECHO-READY /dev/" + p.getName());
                System.out.flush();
                byte[] b = new byte[65536];
                while (true) {
                    // A read while the host is not connected returns EOF: wait and try again.
                    // One open for both directions: a virtio console port can be open only once.
                    try (java.io.RandomAccessFile port = new java.io.RandomAccessFile("/dev/" + p.getName(), "rw")) {
                        int n;
                        while ((n = port.read(b)) >= 0) {
                            if (n > 0) {
                                port.write(b, 0, n);
                            }
                        }
                    }
                    Thread.sleep(50);
                }
            } catch (java.io.IOException | InterruptedException e) {
                System.out.println("serial echo: " + e);
            }
        }
    }

    /** Connects to the host's port 1025 until it answers; prints what it got. */
    private static void hostClient() {
        for (int attempt = 1; attempt <= 600; attempt++) {
            int fd = C.socket(AF_VSOCK, SOCK_STREAM, 0);
            try {
                byte[] a = addr(2, HOST_PORT);
                C.connect(fd, a, a.length);
                byte[] hello = ("HELLO-FROM-GUEST " + attempt + "\n").getBytes(StandardCharsets.US_ASCII);
                try (Memory m = new Memory(256)) {
                    m.write(0, hello, 0, hello.length);
                    C.write(fd, m, hello.length);
                    StringBuilder sb = new StringBuilder();
                    while (true) {
                        long n = C.read(fd, m, 256);
                        if (n <= 0) {
                            break;
                        }
                        sb.append(new String(m.getByteArray(0, (int) n), StandardCharsets.US_ASCII));
                    }
                    System.out.println("VSOCK-HOST-ANSWER " + sb.toString().strip());
                    System.out.flush();
                }
                return;
            } catch (LastErrorException e) {
                // host not listening yet: RST -> ECONNRESET/ECONNREFUSED
            } finally {
                C.close(fd);
            }
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                return;
            }
        }
    }
}
