package io.nemu.proto.kata;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Descriptors.FieldDescriptor.Type;
import com.google.protobuf.Descriptors.MethodDescriptor;
import com.google.protobuf.Descriptors.ServiceDescriptor;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * Pins the Kata agent API to upstream's wire names and numbers, so that a typo in
 * kata/*.proto fails the build instead of a guest call at run time.
 */
class KataAgentProtoTest {

    private static final String EMPTY = "google.protobuf.Empty";

    private record Rpc(String name, String input, String output) {}

    /**
     * The calls the shim makes, with upstream's request and response types. ListProcesses is
     * not here: upstream removed it in 2021 (Kata 2.1), so no current agent serves it.
     */
    private static final List<Rpc> SHIM_RPCS = List.of(
            new Rpc("CreateSandbox", "grpc.CreateSandboxRequest", EMPTY),
            new Rpc("DestroySandbox", "grpc.DestroySandboxRequest", EMPTY),
            new Rpc("CreateContainer", "grpc.CreateContainerRequest", EMPTY),
            new Rpc("StartContainer", "grpc.StartContainerRequest", EMPTY),
            new Rpc("RemoveContainer", "grpc.RemoveContainerRequest", EMPTY),
            new Rpc("ExecProcess", "grpc.ExecProcessRequest", EMPTY),
            new Rpc("SignalProcess", "grpc.SignalProcessRequest", EMPTY),
            new Rpc("WaitProcess", "grpc.WaitProcessRequest", "grpc.WaitProcessResponse"),
            new Rpc("WriteStdin", "grpc.WriteStreamRequest", "grpc.WriteStreamResponse"),
            new Rpc("ReadStdout", "grpc.ReadStreamRequest", "grpc.ReadStreamResponse"),
            new Rpc("ReadStderr", "grpc.ReadStreamRequest", "grpc.ReadStreamResponse"),
            new Rpc("CloseStdin", "grpc.CloseStdinRequest", EMPTY),
            new Rpc("TtyWinResize", "grpc.TtyWinResizeRequest", EMPTY),
            new Rpc("UpdateContainer", "grpc.UpdateContainerRequest", EMPTY),
            new Rpc("StatsContainer", "grpc.StatsContainerRequest", "grpc.StatsContainerResponse"),
            new Rpc("PauseContainer", "grpc.PauseContainerRequest", EMPTY),
            new Rpc("ResumeContainer", "grpc.ResumeContainerRequest", EMPTY),
            new Rpc("OnlineCPUMem", "grpc.OnlineCPUMemRequest", EMPTY),
            new Rpc("GetGuestDetails", "grpc.GuestDetailsRequest", "grpc.GuestDetailsResponse"),
            new Rpc("MemHotplugByProbe", "grpc.MemHotplugByProbeRequest", EMPTY),
            new Rpc("SetGuestDateTime", "grpc.SetGuestDateTimeRequest", EMPTY),
            new Rpc("GetOOMEvent", "grpc.GetOOMEventRequest", "grpc.OOMEvent"),
            new Rpc("UpdateInterface", "grpc.UpdateInterfaceRequest", "types.Interface"),
            new Rpc("UpdateRoutes", "grpc.UpdateRoutesRequest", "grpc.Routes"),
            new Rpc("AddARPNeighbors", "grpc.AddARPNeighborsRequest", EMPTY),
            new Rpc("ListInterfaces", "grpc.ListInterfacesRequest", "grpc.Interfaces"),
            new Rpc("ListRoutes", "grpc.ListRoutesRequest", "grpc.Routes"),
            new Rpc("CopyFile", "grpc.CopyFileRequest", EMPTY),
            new Rpc("GetMetrics", "grpc.GetMetricsRequest", "grpc.Metrics"));

    private static ServiceDescriptor agentService() {
        ServiceDescriptor s = AgentProto.getDescriptor().findServiceByName("AgentService");
        assertNotNull(s, "agent.proto declares no AgentService");
        return s;
    }

    @Test
    void agentServiceHasUpstreamFullName() {
        assertEquals("grpc.AgentService", agentService().getFullName());
        assertEquals("grpc.AgentService", AgentServiceGrpc.SERVICE_NAME);
        // ttrpc splits gRPC's full method name into its service and method.
        assertEquals("grpc.AgentService/CreateContainer",
                AgentServiceGrpc.getCreateContainerMethod().getFullMethodName());
    }

    @Test
    void shimRpcsHaveUpstreamTypes() {
        ServiceDescriptor s = agentService();
        for (Rpc rpc : SHIM_RPCS) {
            MethodDescriptor m = s.findMethodByName(rpc.name());
            assertNotNull(m, "grpc.AgentService lacks " + rpc.name());
            assertEquals(rpc.input(), m.getInputType().getFullName(), rpc.name() + " input");
            assertEquals(rpc.output(), m.getOutputType().getFullName(), rpc.name() + " output");
            assertFalse(m.isClientStreaming() || m.isServerStreaming(), rpc.name() + " must be unary");
        }
    }

    @Test
    void agentServiceHasExactlyUpstreamRpcs() {
        Set<String> expected = new TreeSet<>(SHIM_RPCS.stream().map(Rpc::name).toList());
        expected.addAll(List.of("UpdateEphemeralMounts", "RemoveStaleVirtiofsShareMounts",
                "GetDiagnosticData", "GetIPTables", "SetIPTables", "MemAgentMemcgSet",
                "MemAgentCompactSet", "ReseedRandomDev", "AddSwap", "AddSwapPath",
                "GetVolumeStats", "ResizeVolume", "SetPolicy"));
        Set<String> actual = agentService().getMethods().stream()
                .map(MethodDescriptor::getName)
                .collect(Collectors.toCollection(TreeSet::new));
        assertEquals(expected, actual);
    }

    @Test
    void healthService() {
        ServiceDescriptor s = HealthProto.getDescriptor().findServiceByName("Health");
        assertNotNull(s);
        assertEquals("grpc.Health", s.getFullName());
        assertEquals(2, s.getMethods().size());
        assertEquals("grpc.HealthCheckResponse", s.findMethodByName("Check").getOutputType().getFullName());
        assertEquals("grpc.VersionCheckResponse", s.findMethodByName("Version").getOutputType().getFullName());
        for (MethodDescriptor m : s.getMethods()) {
            assertEquals("grpc.CheckRequest", m.getInputType().getFullName(), m.getName());
        }
        field(CheckRequest.getDescriptor(), "service", 1, Type.STRING, false);
        field(HealthCheckResponse.getDescriptor(), "status", 1, Type.ENUM, false);
        assertEquals(1, HealthCheckResponse.ServingStatus.SERVING.getNumber());
        assertEquals(2, HealthCheckResponse.ServingStatus.NOT_SERVING.getNumber());
        field(VersionCheckResponse.getDescriptor(), "grpc_version", 1, Type.STRING, false);
        field(VersionCheckResponse.getDescriptor(), "agent_version", 2, Type.STRING, false);
    }

    @Test
    void protoPackages() {
        assertEquals("grpc", AgentProto.getDescriptor().getPackage());
        assertEquals("grpc", OciProto.getDescriptor().getPackage());
        assertEquals("grpc", HealthProto.getDescriptor().getPackage());
        assertEquals("grpc", CsiProto.getDescriptor().getPackage());
        assertEquals("types", KataTypesProto.getDescriptor().getPackage());
        assertEquals("grpc.Spec", Spec.getDescriptor().getFullName());
        assertEquals("types.Interface", Interface.getDescriptor().getFullName());
    }

    @Test
    void createContainerRequestFields() {
        Descriptor d = CreateContainerRequest.getDescriptor();
        field(d, "container_id", 1, Type.STRING, false);
        field(d, "exec_id", 2, Type.STRING, false);
        message(d, "string_user", 3, "grpc.StringUser", false);
        message(d, "devices", 4, "grpc.Device", true);
        message(d, "storages", 5, "grpc.Storage", true);
        message(d, "OCI", 6, "grpc.Spec", false);
        field(d, "sandbox_pidns", 7, Type.BOOL, false);
        message(d, "shared_mounts", 8, "grpc.SharedMount", true);
        field(d, "stdin_port", 9, Type.UINT32, false);
        field(d, "stdout_port", 10, Type.UINT32, false);
        field(d, "stderr_port", 11, Type.UINT32, false);
        assertEquals(11, d.getFields().size());
    }

    @Test
    void execProcessRequestFields() {
        Descriptor d = ExecProcessRequest.getDescriptor();
        field(d, "container_id", 1, Type.STRING, false);
        field(d, "exec_id", 2, Type.STRING, false);
        message(d, "string_user", 3, "grpc.StringUser", false);
        message(d, "process", 4, "grpc.Process", false);
        field(d, "stdin_port", 5, Type.UINT32, false);
        field(d, "stdout_port", 6, Type.UINT32, false);
        field(d, "stderr_port", 7, Type.UINT32, false);
        assertEquals(7, d.getFields().size());
    }

    @Test
    void storageAndDeviceFields() {
        Descriptor s = Storage.getDescriptor();
        field(s, "driver", 1, Type.STRING, false);
        field(s, "driver_options", 2, Type.STRING, true);
        field(s, "source", 3, Type.STRING, false);
        field(s, "fstype", 4, Type.STRING, false);
        field(s, "options", 5, Type.STRING, true);
        field(s, "mount_point", 6, Type.STRING, false);
        message(s, "fs_group", 7, "grpc.FSGroup", false);
        field(s, "shared", 8, Type.BOOL, false);
        assertEquals(8, s.getFields().size());

        Descriptor d = Device.getDescriptor();
        field(d, "id", 1, Type.STRING, false);
        field(d, "type", 2, Type.STRING, false);
        field(d, "vm_path", 3, Type.STRING, false);
        field(d, "container_path", 4, Type.STRING, false);
        field(d, "options", 5, Type.STRING, true);
        assertEquals(5, d.getFields().size());
    }

    @Test
    void createSandboxRequestFields() {
        Descriptor d = CreateSandboxRequest.getDescriptor();
        field(d, "hostname", 1, Type.STRING, false);
        field(d, "dns", 2, Type.STRING, true);
        message(d, "storages", 3, "grpc.Storage", true);
        field(d, "sandbox_pidns", 4, Type.BOOL, false);
        field(d, "sandbox_id", 5, Type.STRING, false);
        field(d, "guest_hook_path", 6, Type.STRING, false);
        message(d, "kernel_modules", 7, "grpc.KernelModule", true);
        assertEquals(7, d.getFields().size());
    }

    @Test
    void ociSpecTopLevelFields() {
        Descriptor d = Spec.getDescriptor();
        field(d, "Version", 1, Type.STRING, false);
        message(d, "Process", 2, "grpc.Process", false);
        message(d, "Root", 3, "grpc.Root", false);
        field(d, "Hostname", 4, Type.STRING, false);
        message(d, "Mounts", 5, "grpc.Mount", true);
        message(d, "Hooks", 6, "grpc.Hooks", false);
        FieldDescriptor annotations = d.findFieldByNumber(7);
        assertEquals("Annotations", annotations.getName());
        assertTrue(annotations.isMapField(), "Spec.Annotations must be a map");
        message(d, "Linux", 8, "grpc.Linux", false);
        message(d, "Solaris", 9, "grpc.Solaris", false);
        message(d, "Windows", 10, "grpc.Windows", false);
        assertEquals(10, d.getFields().size());
    }

    @Test
    void streamAndProcessControlFields() {
        Descriptor sig = SignalProcessRequest.getDescriptor();
        field(sig, "container_id", 1, Type.STRING, false);
        field(sig, "exec_id", 2, Type.STRING, false);
        field(sig, "signal", 3, Type.UINT32, false);
        field(WaitProcessResponse.getDescriptor(), "status", 1, Type.INT32, false);
        field(WriteStreamRequest.getDescriptor(), "data", 3, Type.BYTES, false);
        field(WriteStreamResponse.getDescriptor(), "len", 1, Type.UINT32, false);
        field(ReadStreamRequest.getDescriptor(), "len", 3, Type.UINT32, false);
        field(ReadStreamResponse.getDescriptor(), "data", 1, Type.BYTES, false);
        field(TtyWinResizeRequest.getDescriptor(), "row", 3, Type.UINT32, false);
        field(TtyWinResizeRequest.getDescriptor(), "column", 4, Type.UINT32, false);
        Descriptor cpu = OnlineCPUMemRequest.getDescriptor();
        field(cpu, "wait", 1, Type.BOOL, false);
        field(cpu, "nb_cpus", 2, Type.UINT32, false);
        field(cpu, "cpu_only", 3, Type.BOOL, false);
        field(OOMEvent.getDescriptor(), "container_id", 1, Type.STRING, false);
    }

    /** Bytes worked out by hand from the field numbers: tag = number << 3 | wire type. */
    @Test
    void execProcessRequestEncodesAsUpstream() throws Exception {
        ExecProcessRequest req = ExecProcessRequest.newBuilder()
                .setContainerId("c")
                .setExecId("e")
                .setProcess(Process.newBuilder().addArgs("sh").setTerminal(true))
                .setStdoutPort(5)
                .build();
        // 0a 01 'c' | 12 01 'e' | 22 06 { 08 01 | 22 02 's' 'h' } | 30 05
        String expected = "0a0163" + "120165" + "2206" + "0801" + "22027368" + "3005";
        assertEquals(expected, HexFormat.of().formatHex(req.toByteArray()));
        assertEquals(req, ExecProcessRequest.parseFrom(HexFormat.of().parseHex(expected)));
    }

    private static void field(Descriptor d, String name, int number, Type type, boolean repeated) {
        FieldDescriptor f = d.findFieldByNumber(number);
        assertNotNull(f, d.getFullName() + " has no field " + number + " (" + name + ")");
        assertEquals(name, f.getName(), d.getFullName() + " field " + number);
        assertEquals(type, f.getType(), d.getFullName() + "." + name + " type");
        assertEquals(repeated, f.isRepeated(), d.getFullName() + "." + name + " repeated");
    }

    private static void message(Descriptor d, String name, int number, String typeName, boolean repeated) {
        field(d, name, number, Type.MESSAGE, repeated);
        assertEquals(typeName, d.findFieldByNumber(number).getMessageType().getFullName(),
                d.getFullName() + "." + name + " message type");
    }
}
