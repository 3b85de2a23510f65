package io.nemu.agent;

import com.google.protobuf.Empty;
import com.google.protobuf.ByteString;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.nemu.proto.kata.AddARPNeighborsRequest;
import io.nemu.proto.kata.AgentServiceGrpc;
import io.nemu.proto.kata.CloseStdinRequest;
import io.nemu.proto.kata.CopyFileRequest;
import io.nemu.proto.kata.CreateContainerRequest;
import io.nemu.proto.kata.CreateSandboxRequest;
import io.nemu.proto.kata.DestroySandboxRequest;
import io.nemu.proto.kata.ExecProcessRequest;
import io.nemu.proto.kata.GetOOMEventRequest;
import io.nemu.proto.kata.GuestDetailsRequest;
import io.nemu.proto.kata.GuestDetailsResponse;
import io.nemu.proto.kata.Interface;
import io.nemu.proto.kata.Interfaces;
import io.nemu.proto.kata.ListInterfacesRequest;
import io.nemu.proto.kata.ListRoutesRequest;
import io.nemu.proto.kata.MemHotplugByProbeRequest;
import io.nemu.proto.kata.OOMEvent;
import io.nemu.proto.kata.OnlineCPUMemRequest;
import io.nemu.proto.kata.PauseContainerRequest;
import io.nemu.proto.kata.ReadStreamRequest;
import io.nemu.proto.kata.ReadStreamResponse;
import io.nemu.proto.kata.RemoveContainerRequest;
import io.nemu.proto.kata.ResumeContainerRequest;
import io.nemu.proto.kata.ReseedRandomDevRequest;
import io.nemu.proto.kata.Routes;
import io.nemu.proto.kata.SetGuestDateTimeRequest;
import io.nemu.proto.kata.SignalProcessRequest;
import io.nemu.proto.kata.StartContainerRequest;
import io.nemu.proto.kata.StatsContainerRequest;
import io.nemu.proto.kata.StatsContainerResponse;
import io.nemu.proto.kata.TtyWinResizeRequest;
import io.nemu.proto.kata.UpdateContainerRequest;
import io.nemu.proto.kata.UpdateInterfaceRequest;
import io.nemu.proto.kata.UpdateRoutesRequest;
import io.nemu.proto.kata.VolumeStatsRequest;
import io.nemu.proto.kata.VolumeStatsResponse;
import io.nemu.proto.kata.WaitProcessRequest;
import io.nemu.proto.kata.WaitProcessResponse;
import io.nemu.proto.kata.WriteStreamRequest;
import io.nemu.proto.kata.WriteStreamResponse;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * grpc.AgentService, transport-free: any gRPC server (ttrpc, in-process) can serve it. Calls
 * not listed here answer UNIMPLEMENTED with the method's name (the generated base does that).
 * A read at end of stream fails with description "eof", as the Kata agent's does.
 */
public final class AgentService extends AgentServiceGrpc.AgentServiceImplBase {

    private static final Logger LOG = LoggerFactory.getLogger(AgentService.class);

    private static final Empty EMPTY = Empty.getDefaultInstance();

    private final Sandbox sandbox;
    private final Network network;

    public AgentService(AgentConfig config) {
        this.sandbox = new Sandbox(config);
        this.network = new Network(config.ipCommand());
    }

    private static <T> void call(String name, StreamObserver<T> out, Supplier<T> body) {
        T result;
        try {
            result = body.get();
        } catch (AgentException e) {
            if (e.code() != Status.Code.OUT_OF_RANGE) {
                LOG.warn("{}: {} {}", name, e.code(), e.getMessage());
            }
            out.onError(e.status().withCause(e.getCause()).asRuntimeException());
            return;
        } catch (RuntimeException | Error e) {
            LOG.error("{} failed: {}", name, String.valueOf(e));
            out.onError(Status.INTERNAL.withDescription(name + ": " + e).withCause(e).asRuntimeException());
            return;
        }
        out.onNext(result);
        out.onCompleted();
    }

    private static Empty run(Runnable r) {
        r.run();
        return EMPTY;
    }

    @Override
    public void createSandbox(CreateSandboxRequest req, StreamObserver<Empty> out) {
        call("CreateSandbox", out, () -> run(() -> sandbox.createSandbox(req)));
    }

    @Override
    public void destroySandbox(DestroySandboxRequest req, StreamObserver<Empty> out) {
        call("DestroySandbox", out, () -> run(sandbox::destroySandbox));
    }

    @Override
    public void createContainer(CreateContainerRequest req, StreamObserver<Empty> out) {
        call("CreateContainer", out, () -> run(() -> sandbox.createContainer(req)));
    }

    @Override
    public void startContainer(StartContainerRequest req, StreamObserver<Empty> out) {
        call("StartContainer", out, () -> run(() -> sandbox.startContainer(req.getContainerId())));
    }

    @Override
    public void removeContainer(RemoveContainerRequest req, StreamObserver<Empty> out) {
        call("RemoveContainer", out, () -> run(() -> sandbox.removeContainer(req.getContainerId(), req.getTimeout())));
    }

    @Override
    public void execProcess(ExecProcessRequest req, StreamObserver<Empty> out) {
        call("ExecProcess", out, () -> run(() -> sandbox.exec(req)));
    }

    @Override
    public void signalProcess(SignalProcessRequest req, StreamObserver<Empty> out) {
        call("SignalProcess", out, () -> run(() -> sandbox.signal(req.getContainerId(), req.getExecId(), req.getSignal())));
    }

    @Override
    public void waitProcess(WaitProcessRequest req, StreamObserver<WaitProcessResponse> out) {
        call("WaitProcess", out, () -> WaitProcessResponse.newBuilder()
                .setStatus(sandbox.waitProcess(req.getContainerId(), req.getExecId())).build());
    }

    @Override
    public void updateContainer(UpdateContainerRequest req, StreamObserver<Empty> out) {
        call("UpdateContainer", out, () -> run(() -> sandbox.update(req.getContainerId(), req.getResources())));
    }

    @Override
    public void statsContainer(StatsContainerRequest req, StreamObserver<StatsContainerResponse> out) {
        call("StatsContainer", out, () -> sandbox.stats(req.getContainerId()));
    }

    @Override
    public void getVolumeStats(VolumeStatsRequest req, StreamObserver<VolumeStatsResponse> out) {
        call("GetVolumeStats", out, () -> sandbox.volumeStats(req.getVolumeGuestPath()));
    }

    @Override
    public void pauseContainer(PauseContainerRequest req, StreamObserver<Empty> out) {
        call("PauseContainer", out, () -> run(() -> sandbox.pause(req.getContainerId())));
    }

    @Override
    public void resumeContainer(ResumeContainerRequest req, StreamObserver<Empty> out) {
        call("ResumeContainer", out, () -> run(() -> sandbox.resume(req.getContainerId())));
    }

    @Override
    public void writeStdin(WriteStreamRequest req, StreamObserver<WriteStreamResponse> out) {
        call("WriteStdin", out, () -> WriteStreamResponse.newBuilder()
                .setLen(sandbox.writeStdin(req.getContainerId(), req.getExecId(), req.getData())).build());
    }

    @Override
    public void readStdout(ReadStreamRequest req, StreamObserver<ReadStreamResponse> out) {
        call("ReadStdout", out, () -> read(req, true));
    }

    @Override
    public void readStderr(ReadStreamRequest req, StreamObserver<ReadStreamResponse> out) {
        call("ReadStderr", out, () -> read(req, false));
    }

    private ReadStreamResponse read(ReadStreamRequest req, boolean stdout) {
        ByteString data = sandbox.read(req.getContainerId(), req.getExecId(), req.getLen(), stdout);
        if (data == null) {
            throw new AgentException(Status.Code.OUT_OF_RANGE, "eof", null);
        }
        return ReadStreamResponse.newBuilder().setData(data).build();
    }

    @Override
    public void closeStdin(CloseStdinRequest req, StreamObserver<Empty> out) {
        call("CloseStdin", out, () -> run(() -> sandbox.closeStdin(req.getContainerId(), req.getExecId())));
    }

    @Override
    public void ttyWinResize(TtyWinResizeRequest req, StreamObserver<Empty> out) {
        call("TtyWinResize", out, () -> run(() -> sandbox.resize(req.getContainerId(), req.getExecId(),
                req.getRow(), req.getColumn())));
    }

    @Override
    public void getOOMEvent(GetOOMEventRequest req, StreamObserver<OOMEvent> out) {
        call("GetOOMEvent", out, () -> {
            try {
                // Long poll: give the thread back when the caller goes away.
                var server = out instanceof ServerCallStreamObserver<OOMEvent> s ? s : null;
                while (true) {
                    String id = sandbox.nextOomEvent(1, TimeUnit.SECONDS);
                    if (id != null) {
                        return OOMEvent.newBuilder().setContainerId(id).build();
                    }
                    if (server != null && server.isCancelled()) {
                        throw new AgentException(Status.Code.CANCELLED, "caller went away", null);
                    }
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AgentException(Status.Code.CANCELLED, "agent stopping", e);
            }
        });
    }

    @Override
    public void setGuestDateTime(SetGuestDateTimeRequest req, StreamObserver<Empty> out) {
        call("SetGuestDateTime", out, () -> run(() -> GuestOps.setTime(req.getSec(), req.getUsec())));
    }

    @Override
    public void getGuestDetails(GuestDetailsRequest req, StreamObserver<GuestDetailsResponse> out) {
        call("GetGuestDetails", out, () -> GuestOps.details(sandbox.config(), req));
    }

    @Override
    public void onlineCPUMem(OnlineCPUMemRequest req, StreamObserver<Empty> out) {
        call("OnlineCPUMem", out, () -> run(() -> GuestOps.onlineCpuMem(sandbox.config(), req)));
    }

    @Override
    public void memHotplugByProbe(MemHotplugByProbeRequest req, StreamObserver<Empty> out) {
        call("MemHotplugByProbe", out, () -> run(() -> GuestOps.memHotplugByProbe(sandbox.config(),
                req.getMemHotplugProbeAddrList())));
    }

    @Override
    public void reseedRandomDev(ReseedRandomDevRequest req, StreamObserver<Empty> out) {
        call("ReseedRandomDev", out, () -> run(() -> GuestOps.reseed(req.getData().toByteArray())));
    }

    @Override
    public void copyFile(CopyFileRequest req, StreamObserver<Empty> out) {
        call("CopyFile", out, () -> run(() -> GuestOps.copyFile(sandbox.config(), req)));
    }

    @Override
    public void updateInterface(UpdateInterfaceRequest req, StreamObserver<Interface> out) {
        call("UpdateInterface", out, () -> network.updateInterface(req.getInterface()));
    }

    @Override
    public void updateRoutes(UpdateRoutesRequest req, StreamObserver<Routes> out) {
        call("UpdateRoutes", out, () -> network.updateRoutes(req.getRoutes()));
    }

    @Override
    public void listInterfaces(ListInterfacesRequest req, StreamObserver<Interfaces> out) {
        call("ListInterfaces", out, network::listInterfaces);
    }

    @Override
    public void listRoutes(ListRoutesRequest req, StreamObserver<Routes> out) {
        call("ListRoutes", out, network::listRoutes);
    }

    @Override
    public void addARPNeighbors(AddARPNeighborsRequest req, StreamObserver<Empty> out) {
        call("AddARPNeighbors", out, () -> run(() -> network.addNeighbors(req.getNeighbors())));
    }
}
