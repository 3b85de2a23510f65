package io.nemu.shim.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * containerd's convention for shim sockets: {@code /run/containerd/s/<sha256 of address/ns/id>}, and the bundle's
 * {@code address} file naming it.
 */
public final class ShimSocket {
    public static final Path DIR = Path.of("/run/containerd/s");
    /** The bundle's file holding the shim's address. */
    public static final String ADDRESS_FILE = "address";

    private ShimSocket() {
    }

    public static Path path(String grpcAddress, String namespace, String id) {
        return DIR.resolve(hash(Path.of(grpcAddress, namespace, id).normalize().toString()));
    }

    /**
     * The socket of the daemon serving every pod of one containerd namespace. A task id is never empty, so the
     * hash of {@code address/ns/} differs from any task's.
     */
    public static Path daemonPath(String grpcAddress, String namespace) {
        return DIR.resolve(hash(Path.of(grpcAddress, namespace).normalize() + "/"));
    }

    public static String address(Path socket) {
        return "unix://" + socket;
    }

    /**
     * Writes {@code address} (what {@code start} prints) into the bundle, replacing it whole: containerd 1.6 reads
     * this file, and only this file, to reconnect to a running shim when it restarts; without it the task is
     * taken for dead and its shim's {@code delete} run.
     */
    public static void writeAddressFile(Path bundleDir, Path socket) throws IOException {
        Path file = bundleDir.resolve(ADDRESS_FILE);
        Path tmp = bundleDir.resolve(ADDRESS_FILE + ".tmp");
        Files.writeString(tmp, address(socket), StandardCharsets.UTF_8);
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    static String hash(String s) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
