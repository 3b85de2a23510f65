package io.nemu.shim.cli;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/** containerd's convention for shim sockets: {@code /run/containerd/s/<sha256 of address/ns/id>}. */
public final class ShimSocket {
    public static final Path DIR = Path.of("/run/containerd/s");

    private ShimSocket() {
    }

    public static Path path(String grpcAddress, String namespace, String id) {
        return DIR.resolve(hash(Path.of(grpcAddress, namespace, id).normalize().toString()));
    }

    public static String address(Path socket) {
        return "unix://" + socket;
    }

    static String hash(String s) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
