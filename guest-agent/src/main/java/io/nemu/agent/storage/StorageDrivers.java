package io.nemu.agent.storage;

import io.nemu.agent.AgentException;
import io.nemu.agent.sys.Mounts;
import io.nemu.proto.kata.Storage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** The storage drivers of this agent by the names a {@link Storage} gives, and mounting a request's list. */
public final class StorageDrivers {

    private final Map<String, StorageDriver> byName = new LinkedHashMap<>();

    /** @param sharedDir where the pod's shared folder is mounted when a virtio-fs storage names no mount point */
    public StorageDrivers(Path sharedDir) {
        this(sharedDir, Path.of("/sys"), Path.of("/dev"));
    }

    /** @param sysfs and {@code dev}: where the {@code blk} driver looks for hot-added disks */
    public StorageDrivers(Path sharedDir, Path sysfs, Path dev) {
        StorageDriver virtioFs = new VirtioFsDriver(sharedDir);
        byName.put("virtio-fs", virtioFs);
        byName.put("virtiofs", virtioFs);
        byName.put("ephemeral", new EphemeralDriver());
        byName.put("local", new LocalDriver());
        byName.put("bind", new BindDriver());
        byName.put("blk", new BlkDriver(sysfs, dev));
        StorageDriver fsType = new FsTypeDriver();
        byName.put("9p", fsType);
        byName.put("overlayfs", fsType);
        byName.put("", fsType);
    }

    /** Every driver name this agent accepts. */
    public Set<String> names() {
        return byName.keySet();
    }

    /** The driver called {@code name}; INVALID_ARGUMENT naming {@code where} when there is none. */
    public StorageDriver driver(String name, String where) {
        StorageDriver d = byName.get(name);
        if (d == null) {
            throw AgentException.invalid(where + ".driver '" + name + "' is not supported by this agent");
        }
        return d;
    }

    /**
     * Mounts a request's storages in order. On a failure what was mounted is undone before the error goes on.
     *
     * @return the mount points to undo later, in the order they were made
     */
    public List<Path> mountAll(List<Storage> storages) {
        List<Path> mounted = new ArrayList<>();
        try {
            for (int i = 0; i < storages.size(); i++) {
                String where = "storages[" + i + "]";
                Path p = driver(storages.get(i).getDriver(), where).mount(storages.get(i), where);
                if (p != null) {
                    mounted.add(p);
                }
            }
        } catch (RuntimeException e) {
            unmountAll(mounted);
            throw e;
        }
        return mounted;
    }

    /** Undoes mounts, last first. */
    public static void unmountAll(List<Path> mounts) {
        for (int i = mounts.size() - 1; i >= 0; i--) {
            Mounts.unmount(mounts.get(i));
        }
    }
}
