package io.nemu.shim.sandbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.nemu.proto.kata.Mount;
import io.nemu.proto.kata.Spec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A read-only host mount is read-only in a mount namespace copied from ours before it was shared, as virtiofsd's
 * is (real bind mounts and a real namespace: root only). A bind remounted ro after it reached the share stays
 * writable there: remounts do not propagate.
 */
class SharedFsReadOnlyTest {
    @TempDir
    Path tmp;

    @Test
    void readOnlyMountsAreReadOnlyInVirtiofsdsNamespaceToo() throws Exception {
        assumeTrue("root".equals(System.getProperty("user.name")), "bind mounts need root");
        SandboxPaths paths = new SandboxPaths(tmp.resolve("run"), "sb1");
        Path volume = Files.createDirectories(tmp.resolve("volume"));
        Path hosts = Files.writeString(tmp.resolve("hosts"), "127.0.0.1 localhost\n");
        SharedFs fs = new SharedFs(paths);
        Process peer = null;
        try {
            SharedFs.prepare(paths.shared());
            // virtiofsd's view: a namespace of its own, slave to ours, made before the container's mounts.
            peer = new ProcessBuilder("unshare", "-m", "--propagation", "slave", "sleep", "600").start();
            Path mountinfo = Path.of("/proc", Long.toString(peer.pid()), "mountinfo");
            String own = Files.readSymbolicLink(Path.of("/proc/self/ns/mnt")).toString();
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (own.equals(Files.readSymbolicLink(Path.of("/proc", Long.toString(peer.pid()), "ns/mnt")).toString())
                    && System.nanoTime() < end) {
                Thread.sleep(20);
            }
            Spec.Builder spec = Spec.newBuilder()
                    .addMounts(Mount.newBuilder().setType("bind").setSource(volume.toString()).setDestination("/data")
                            .addOptions("rbind").addOptions("ro"))
                    .addMounts(Mount.newBuilder().setType("bind").setSource(hosts.toString()).setDestination("/etc/hosts")
                            .addOptions("rbind").addOptions("ro"))
                    .addMounts(Mount.newBuilder().setType("bind").setSource(volume.toString()).setDestination("/rw")
                            .addOptions("rbind"));
            fs.shareHostMounts("c1", spec);
            Path mounts = paths.shared().resolve("c1/mounts");
            for (Path ns : List.of(Path.of("/proc/self/mountinfo"), mountinfo)) {
                assertEquals("ro", options(ns, mounts.resolve("0-volume")), ns + ": the ro volume");
                assertEquals("ro", options(ns, mounts.resolve("1-hosts")), ns + ": the ro file");
                assertEquals("rw", options(ns, mounts.resolve("2-volume")), ns + ": the rw volume");
            }
            assertFalse(Files.readString(Path.of("/proc/self/mountinfo")).contains("/staging/"),
                    "the staging mounts are gone");
        } finally {
            if (peer != null) {
                peer.destroyForcibly().waitFor();
            }
            fs.removeAll();
        }
        assertFalse(Files.exists(paths.sharedBase()));
    }

    /** "ro" or "rw": the per-mount flag of the mount at {@code point} in a mountinfo file (the last one wins). */
    private static String options(Path mountinfo, Path point) throws Exception {
        String flag = null;
        for (String line : Files.readAllLines(mountinfo)) {
            String[] f = line.split(" ");
            if (f[4].equals(point.toString())) {
                flag = f[5].split(",")[0];
            }
        }
        assertTrue(flag != null, point + " is not mounted in " + mountinfo);
        return flag;
    }
}
