package io.nemu.shim.sandbox;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The host paths a sandbox's containers mount (folders and files shared over virtio-fs, disks hot-added as
 * virtio-blk) and where the guest reaches each: what {@code nemu direct-volume stats HOST_PATH} is answered from
 * (Kata maps a volume's host path to its guest mount the same way). A path is matched as given (made absolute and
 * normalised) or through its symlinks resolved, on either side.
 */
public final class GuestVolumes {

    /** One mount of a container: its host path and the guest path the agent statfs'es. */
    public record Volume(String containerId, String hostPath, String guestPath) {}

    private record Entry(Volume volume, String realHostPath) {}

    private final List<Entry> entries = new ArrayList<>();

    /** Records a container's mount of {@code hostPath}, reached in the guest at {@code guestPath}. */
    synchronized void add(String cid, String hostPath, String guestPath) {
        String host = normal(hostPath);
        entries.add(new Entry(new Volume(cid, host, guestPath), real(host)));
    }

    /** The container is gone, and so are its mounts. */
    synchronized void removeContainer(String cid) {
        entries.removeIf(e -> e.volume().containerId().equals(cid));
    }

    /** The first container's mount of {@code hostPath}, if any container of the sandbox mounts it. */
    public synchronized Optional<Volume> find(String hostPath) {
        String host = normal(hostPath);
        String real = real(host);
        return entries.stream().filter(e -> e.volume().hostPath().equals(host) || e.realHostPath().equals(real))
                .map(Entry::volume).findFirst();
    }

    private static String normal(String path) {
        return Path.of(path).toAbsolutePath().normalize().toString();
    }

    private static String real(String path) {
        try {
            return Path.of(path).toRealPath().toString();
        } catch (IOException e) {
            return path;
        }
    }
}
