package io.nemu.agent.transport;

import com.sun.jna.LastErrorException;
import io.nemu.agent.sys.Fd;
import io.nemu.agent.sys.Libc;
import io.nemu.proto.kata.CheckRequest;
import io.nemu.proto.kata.HealthCheckResponse;
import io.nemu.proto.ttrpc.Request;
import io.nemu.proto.ttrpc.Response;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * {@code AgentMain --probe-vsock CID:PORT}: one grpc.Health/Check over AF_VSOCK, framed by hand (so it also
 * checks the server's wire format independently of our client), printed; exit 0 when SERVING. Used in the
 * guest against the loopback CID 1 to test the vsock listener where the host has no vsock device.
 */
public final class VsockProbe {
    private VsockProbe() {}

    public static int run(String target) throws IOException {
        int colon = target.indexOf(':');
        if (colon < 0) {
            throw new IllegalArgumentException("--probe-vsock needs CID:PORT, not '" + target + "'");
        }
        int cid = Integer.parseInt(target.substring(0, colon));
        int port = VsockListener.parsePort(target.substring(colon + 1));
        Fd sock;
        try {
            sock = new Fd(Libc.C.socket(Libc.AF_VSOCK, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0));
        } catch (LastErrorException e) {
            throw new IOException("socket(AF_VSOCK): " + Libc.C.strerror(e.getErrorCode()));
        }
        try (sock) {
            try {
                Libc.C.connect(sock.fd(), VsockListener.sockaddrVm(port, cid), 16);
            } catch (LastErrorException e) {
                throw new IOException("connect vsock " + target + ": " + Libc.C.strerror(e.getErrorCode()));
            }
            byte[] payload = Request.newBuilder().setService("grpc.Health").setMethod("Check")
                    .setPayload(CheckRequest.getDefaultInstance().toByteString()).build().toByteArray();
            ByteBuffer frame = ByteBuffer.allocate(10 + payload.length);
            frame.putInt(payload.length).putInt(1).put((byte) 1).put((byte) 0).put(payload);
            sock.writeFully(frame.array(), 0, frame.capacity());
            ByteBuffer header = ByteBuffer.wrap(readFully(sock, 10));
            int length = header.getInt();
            int stream = header.getInt();
            byte type = header.get();
            if (stream != 1 || type != 2) {
                throw new IOException("unexpected frame: stream " + stream + ", type " + type);
            }
            Response r = Response.parseFrom(readFully(sock, length));
            if (r.hasStatus() && r.getStatus().getCode() != 0) {
                System.out.println("vsock probe " + target + ": error " + r.getStatus().getCode() + " "
                        + r.getStatus().getMessage());
                return 1;
            }
            HealthCheckResponse h = HealthCheckResponse.parseFrom(r.getPayload());
            System.out.println("vsock probe " + target + ": " + h.getStatus());
            return h.getStatus() == HealthCheckResponse.ServingStatus.SERVING ? 0 : 1;
        }
    }

    private static byte[] readFully(Fd fd, int n) throws IOException {
        byte[] out = new byte[n];
        byte[] buf = new byte[Math.max(1, n)];
        int done = 0;
        while (done < n) {
            int k = fd.read(buf, n - done);
            if (k < 0) {
                throw new IOException("connection closed after " + done + " of " + n + " bytes");
            }
            System.arraycopy(buf, 0, out, done, k);
            done += k;
        }
        return out;
    }
}
