package io.nemu.vmm;

import java.util.List;

/**
 * How the read-only root image reaches the guest. Either way QEMU reads the file through the host's page cache,
 * which every VM shares; they differ in the guest.
 */
public enum RootDevice {
    /**
     * A read-only virtio-blk disk: the guest's page cache holds a private copy of what it read (guest RAM, in
     * every VM). Works on both machines.
     */
    VIRTIO_BLK(List.of("root=/dev/vda", "rootfstype=erofs", "ro")),
    /**
     * A read-only virtio-pmem device (q35 only: QEMU 7.2's microvm maps no memory devices) mounted with DAX: the
     * guest maps the host's page-cache pages directly and keeps no copy. The guest spends 64 bytes of RAM per
     * 4 KiB of image on its page structures, and the image's size must be a multiple of
     * {@link #PMEM_ALIGNMENT}.
     */
    VIRTIO_PMEM(List.of("root=/dev/pmem0", "rootfstype=erofs", "rootflags=dax", "ro"));

    /**
     * The guest kernel sets up device memory in 2 MiB sub-sections, and memory hot-added after the pmem must start
     * on its 128 MiB memory-block grid: the image's size is a multiple of the latter.
     */
    public static final long PMEM_ALIGNMENT = 128L << 20;

    private final List<String> kernelArgs;

    RootDevice(List<String> kernelArgs) {
        this.kernelArgs = kernelArgs;
    }

    /** How the guest's /init finds and mounts the root image. */
    public List<String> kernelArgs() {
        return kernelArgs;
    }

    /**
     * Kata's rule ({@code disable_image_nvdimm}): a memory device with DAX where the machine can map one,
     * else a block device.
     */
    public static RootDevice of(MachineProfile profile, boolean nvdimmDisabled) {
        return profile.hotplug() && !nvdimmDisabled ? VIRTIO_PMEM : VIRTIO_BLK;
    }
}
