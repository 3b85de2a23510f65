package io.nemu.vmm;

import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;

/**
 * The two machine types the shim offers. {@code virt}: microvm, hardware-reduced ACPI, virtio-mmio,
 * no PCI, no hotplug, fastest to boot. {@code virt-hotplug}: q35 without defaults, PCIe root ports
 * and ACPI hotplug of vCPUs and memory.
 */
public sealed interface MachineProfile permits MachineProfile.Virt, MachineProfile.VirtHotplug {

    /** Id of the memory backend object the machine uses as RAM. */
    String MEMORY_BACKEND_ID = "mem";

    /** Ids of the empty PCIe root ports on q35: {@code hotplug0}, {@code hotplug1}, ... */
    String ROOT_PORT_PREFIX = "hotplug";

    String name();

    boolean hotplug();

    /** {@code -machine}, {@code -smp}, {@code -m} and machine-wide devices and globals. */
    List<String> machineArgs(VmConfig config);

    /** Device type of a vhost-user-fs front end on this machine's bus. */
    String vhostUserFsDevice();

    /** Device type of a virtio-serial controller on this machine's bus. */
    String virtioSerialDevice();

    /** Device type of a vhost-user-vsock front end (our in-process backend) on this machine's bus. */
    default String vhostUserVsockDevice() {
        return hotplug() ? "vhost-user-vsock-pci" : "vhost-user-vsock-device";
    }

    /** Device type of a kernel vhost-vsock device (/dev/vhost-vsock) on this machine's bus. */
    default String vhostVsockDevice() {
        return hotplug() ? "vhost-vsock-pci" : "vhost-vsock-device";
    }

    /** Device type of a virtio-net NIC on this machine's bus. */
    default String virtioNetDevice() {
        return hotplug() ? "virtio-net-pci" : "virtio-net-device";
    }

    /** Device type of a virtio-9p shared folder on this machine's bus. */
    default String virtio9pDevice() {
        return hotplug() ? "virtio-9p-pci" : "virtio-9p-device";
    }

    /** Device type of a virtio-blk disk on this machine's bus. */
    default String virtioBlkDevice() {
        return hotplug() ? "virtio-blk-pci" : "virtio-blk-device";
    }

    /** Device type of a virtio-balloon on this machine's bus. */
    default String virtioBalloonDevice() {
        return hotplug() ? "virtio-balloon-pci" : "virtio-balloon-device";
    }

    /** Extra device properties for virtio devices on this bus (e.g. modern-only on PCI). */
    default String virtioDeviceOptions() {
        return "";
    }

    /** Kernel command line words this machine needs. */
    List<String> kernelArgs(Accelerator resolved, OptionalLong hostTscKhz);

    static MachineProfile virt() {
        return Virt.INSTANCE;
    }

    static MachineProfile virtHotplug() {
        return VirtHotplug.INSTANCE;
    }

    /** By the name used in configuration ({@code virt}, {@code virt-hotplug}). */
    static MachineProfile byName(String name) {
        if (Virt.INSTANCE.name().equals(name)) {
            return Virt.INSTANCE;
        }
        if (VirtHotplug.INSTANCE.name().equals(name)) {
            return VirtHotplug.INSTANCE;
        }
        throw new VmConfigException("profile", "'" + name + "' is not one of virt, virt-hotplug");
    }

    record Virt() implements MachineProfile {
        static final Virt INSTANCE = new Virt();

        @Override
        public String name() {
            return "virt";
        }

        @Override
        public boolean hotplug() {
            return false;
        }

        @Override
        public List<String> machineArgs(VmConfig c) {
            return List.of(
                    // rtc stays on: without it the guest spends ~2 s more calibrating.
                    "-machine", "microvm,acpi=on,pic=off,pit=off,x-option-roms=off,rtc=on,isa-serial=on,"
                            + "memory-backend=" + MEMORY_BACKEND_ID,
                    // virtiofsd refuses legacy virtio-mmio devices.
                    "-global", "virtio-mmio.force-legacy=false",
                    "-smp", Integer.toString(c.vcpus()),
                    "-m", c.memoryMib() + "M");
        }

        @Override
        public String vhostUserFsDevice() {
            return "vhost-user-fs-device";
        }

        @Override
        public String virtioSerialDevice() {
            return "virtio-serial-device";
        }

        @Override
        public List<String> kernelArgs(Accelerator resolved, OptionalLong hostTscKhz) {
            // Without a PIT the TCG guest cannot calibrate its TSC: hand it the host's rate.
            if (resolved == Accelerator.TCG && hostTscKhz.isPresent()) {
                return List.of("tsc_early_khz=" + hostTscKhz.getAsLong());
            }
            return List.of();
        }
    }

    record VirtHotplug() implements MachineProfile {
        static final VirtHotplug INSTANCE = new VirtHotplug();

        @Override
        public String name() {
            return "virt-hotplug";
        }

        @Override
        public boolean hotplug() {
            return true;
        }

        @Override
        public List<String> machineArgs(VmConfig c) {
            List<String> a = new ArrayList<>(List.of(
                    "-machine", "q35,acpi=on,sata=off,smbus=off,usb=off,vmport=off,i8042=off,"
                            + "memory-backend=" + MEMORY_BACKEND_ID,
                    "-smp", c.vcpus() + ",maxcpus=" + c.maxVcpus()));
            String mem = c.memoryMib() + "M";
            if (c.rootImageMapped()) {
                // The pmem root sits in the memory-device area beside any hot-added DIMMs (it takes no DIMM slot).
                long maxmem = c.maxMemoryMib() + (c.rootImageBytes() + (1 << 20) - 1 >> 20);
                mem += ",slots=" + Math.max(c.memorySlots(), 1) + ",maxmem=" + maxmem + "M";
            } else if (c.memorySlots() > 0 || c.virtioMem()) {
                mem += ",slots=" + c.memorySlots() + ",maxmem=" + c.maxMemoryMib() + "M";
            }
            a.add("-m");
            a.add(mem);
            for (int i = 0; i < c.pciRootPorts(); i++) {
                a.add("-device");
                a.add("pcie-root-port,id=" + ROOT_PORT_PREFIX + i + ",bus=pcie.0,chassis=" + (i + 1));
            }
            return a;
        }

        @Override
        public String vhostUserFsDevice() {
            return "vhost-user-fs-pci";
        }

        @Override
        public String virtioSerialDevice() {
            return "virtio-serial-pci";
        }

        @Override
        public String virtioDeviceOptions() {
            // Modern only: no legacy I/O port BAR.
            return ",disable-legacy=on";
        }

        @Override
        public List<String> kernelArgs(Accelerator resolved, OptionalLong hostTscKhz) {
            // Hot-added DIMMs come online as the kernel adds them, not when someone later asks. A memory-device
            // area (DIMM slots, a pmem root) lies above 4 GiB, and then the kernel zeroes a 64 MiB swiotlb bounce
            // buffer (guest RAM the host must back) that no device here needs: virtio addresses memory directly.
            return List.of("memhp_default_state=online", "swiotlb=noforce");
        }
    }
}
