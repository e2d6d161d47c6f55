// DynamoDB Local bound to 127.0.0.1 only.
//
// DynamoDB Local (AWS's emulator, shipped as DynamoDBLocal.jar) has no option for the
// listen address: its Jetty connector binds every interface. This launcher builds the
// server exactly as `java -jar DynamoDBLocal.jar ARGS` does, then sets the connector's
// host to loopback before starting it, so nothing outside this machine can reach it.
// devtools/dynamodb_local.py compiles and runs it.
import com.amazonaws.services.dynamodbv2.local.main.ServerRunner;
import com.amazonaws.services.dynamodbv2.local.server.DynamoDBProxyServer;
import java.lang.reflect.Field;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;

public class LoopbackDynamoDBLocal {
    public static void main(String[] args) throws Exception {
        DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
        Field field = DynamoDBProxyServer.class.getDeclaredField("server");
        field.setAccessible(true);
        Server server = (Server) field.get(proxy);
        for (Connector connector : server.getConnectors()) {
            ((ServerConnector) connector).setHost("127.0.0.1");
        }
        proxy.start();
        System.out.println("DynamoDB Local on 127.0.0.1");
        proxy.join();
    }
}
