package io.nemu.shim.sandbox;

import io.nemu.contract.DebugConsole;
import io.nemu.contract.GuestContract;
import io.nemu.firmware.GuestImage;
import io.nemu.firmware.RootImageCheck;
import io.nemu.shim.config.RuntimeConfig;
import io.nemu.vmm.AgentTransport;
import io.nemu.vmm.RootDevice;
import io.nemu.vmm.VmConfig;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The VM a sandbox of a given size boots, as the configuration describes it, before any pod's NICs: one place for
 * a pod's boot ({@link VmSandbox}) and {@code nemu template build}, so that both name the same template.
 *
 * @param builder the VM's config so far (the pod's NICs are added to it, or a template's stand-ins)
 * @param imageId the guest image's identity, for template keys
 */
record SandboxVmConfig(VmConfig.Builder builder, String imageId) {

    /** The configured VM of {@code size}, its run and shared folders in {@code paths} (not made here). */
    static SandboxVmConfig of(RuntimeConfig cfg, SandboxPaths paths, PodSizing size) throws IOException {
        RuntimeConfig.Hypervisor h = cfg.hypervisor();
        VmConfig.Builder vc = VmConfig.builder();
        String imageId = rootOf(h, paths, vc);
        vc.profile(h.machineType()).kernel(h.kernel())
                .kernelArgs(kernelArgs(cfg)).vcpus(size.vcpus()).memoryMib(size.memoryMib())
                .maxVcpus(size.maxVcpus()).memorySlots(h.memorySlots()).maxMemoryMib(size.maxMemoryMib())
                .virtioMem(size.virtioMem(h))
                .pciRootPorts(h.pcieRootPorts()).runDir(paths.vmRun()).accelerator(h.accelerator())
                .qemuBinary(h.path()).virtiofsdBinary(h.virtioFsDaemon()).agentTransport(AgentTransport.VSOCK)
                .agentPort(GuestContract.AGENT_VSOCK_PORT)
                .freePageReporting(h.reclaimGuestFreedMemory()).seccompSandbox(h.seccompSandbox())
                .tcgTbSizeMib(h.tcgTbSizeMib())
                .startTimeout(Duration.ofSeconds(30));
        if (h.sharedFs() == RuntimeConfig.SharedFs.VIRTIO_FS) {
            vc.sharedDir(paths.shared()).sharedTag(GuestContract.SHARED_FS_TAG).sharedCache(h.virtioFsCache());
        }
        return new SandboxVmConfig(vc, imageId);
    }

    /**
     * The VM as configured so far with the template's device set: what its template is keyed by and booted from. The
     * builder is left as it was. Serial agent channel: vhost-user devices cannot migrate. No free page reporting: on
     * QEMU 7.2 a clone's discard of a freed page punches a hole in the template's RAM file, its private mapping
     * notwithstanding, under every other clone (QEMU 8.1 only started warning about it).
     */
    VmConfig templated() {
        return builder.build().toBuilder().agentTransport(AgentTransport.SERIAL).freePageReporting(false).build();
    }

    /**
     * The configuration's kernel_params after the agent's switches (Kata's names): agent.log=debug for
     * [agent.kata] enable_debug, the debug console's port for debug_console_enabled. The file's words come last
     * and so win.
     */
    static List<String> kernelArgs(RuntimeConfig cfg) {
        List<String> args = new ArrayList<>();
        if (cfg.agent().enableDebug()) {
            args.add(DebugConsole.LOG_PARAM + "=debug");
        }
        if (cfg.agent().debugConsoleEnabled()) {
            args.add(DebugConsole.PORT_PARAM + "=" + DebugConsole.VSOCK_PORT);
        }
        args.addAll(cfg.hypervisor().kernelParams());
        return args;
    }

    /**
     * The guest's root: the configured initramfs, or the root image checked against its manifest (a modified or
     * truncated file fails here, naming it) with the initramfs that mounts it; returns its identity for templates.
     * Verified hashes are remembered under the shim's run root ({@code verified-images/}), so only a changed file is
     * hashed again. On virt-hotplug the image is mapped as pmem with DAX unless {@code disable_image_nvdimm} says
     * otherwise.
     */
    private static String rootOf(RuntimeConfig.Hypervisor h, SandboxPaths paths, VmConfig.Builder vc) throws IOException {
        if (h.image() == null) {
            vc.initrd(h.initrd());
            return "initrd";
        }
        GuestImage img = RootImageCheck.verify(h.image(), paths.root().resolve("verified-images"));
        vc.initrd(img.rootInitrd().orElseThrow()).rootImage(h.image())
                .rootDevice(RootDevice.of(h.machineType(), h.disableImageNvdimm()));
        return img.manifest().recipe();
    }
}
