package io.nemu.agent;

import io.nemu.agent.sys.StatVfs;
import io.nemu.proto.kata.VolumeCondition;
import io.nemu.proto.kata.VolumeStatsResponse;
import io.nemu.proto.kata.VolumeUsage;
import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Collection;

/**
 * GetVolumeStats: bytes and inodes of the file system under a volume's guest path, filled as Kata's agent fills
 * them (available = free blocks, used = total - available). Only a path at or below a mount this agent made for
 * the pod (its storages, the shared folder) is answered, after symlinks are resolved: a caller cannot probe the
 * rest of the guest.
 */
final class VolumeStats {
    private VolumeStats() {}

    static VolumeStatsResponse of(String guestPath, Collection<Path> volumeRoots) {
        Path real = resolve(guestPath, volumeRoots);
        StatVfs s;
        try {
            s = StatVfs.of(real);
        } catch (IOException e) {
            throw AgentException.internal("volume " + guestPath + ": " + e.getMessage(), e);
        }
        long total = s.blocks() * s.blockSize();
        long available = s.freeBlocks() * s.blockSize();
        return VolumeStatsResponse.newBuilder()
                .addUsage(usage(total, available, VolumeUsage.Unit.BYTES))
                .addUsage(usage(s.inodes(), s.freeInodes(), VolumeUsage.Unit.INODES))
                .setVolumeCondition(VolumeCondition.newBuilder().setAbnormal(false).setMessage("OK"))
                .build();
    }

    private static VolumeUsage usage(long total, long available, VolumeUsage.Unit unit) {
        return VolumeUsage.newBuilder().setTotal(total).setAvailable(available).setUsed(total - available)
                .setUnit(unit).build();
    }

    /** The path with symlinks resolved, if it is below one of the roots (whose own links are resolved too). */
    static Path resolve(String guestPath, Collection<Path> volumeRoots) {
        if (guestPath.isEmpty()) {
            throw AgentException.invalid("volume_guest_path is empty");
        }
        Path p = Path.of(guestPath);
        if (!p.isAbsolute() || !p.normalize().equals(p)) {
            throw AgentException.invalid("volume_guest_path '" + guestPath + "' must be an absolute path without . or ..");
        }
        Path real;
        try {
            real = p.toRealPath();
        } catch (NoSuchFileException e) {
            throw AgentException.notFound("volume_guest_path " + guestPath + " does not exist");
        } catch (IOException e) {
            throw AgentException.invalid("volume_guest_path " + guestPath + ": " + e.getMessage());
        }
        for (Path root : volumeRoots) {
            Path r;
            try {
                r = root.toRealPath();
            } catch (IOException e) {
                continue; // a mount point that went away holds no volume
            }
            if (real.startsWith(r)) {
                return real;
            }
        }
        throw AgentException.notFound("volume_guest_path " + guestPath + (real.equals(p) ? "" : " (" + real + ")")
                + " is not a volume of this sandbox: it is not at or below a mount the agent made for it");
    }
}
