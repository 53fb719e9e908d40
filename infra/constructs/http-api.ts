import { Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  HttpApi,
  HttpMethod,
  HttpNoneAuthorizer,
  HttpStage,
  type IHttpRouteAuthorizer,
  LogGroupLogDestination,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ACCESS_LOG_FIELDS, type FunctionName, type RouteDefinition } from '../definitions.ts';
import { type AppFunction, toRetentionDays } from './app-function.ts';

/** How the API is throttled; the defaults are far above Cronofy's and recipients' traffic for one integrator. */
export interface ApiThrottleProps {
  /**
   * Steady-state requests per second the API accepts, all routes together; beyond it callers get 429
   * (Cronofy retries notifications).
   * @default 50
   */
  readonly rateLimit?: number;
  /**
   * Requests the API accepts at once above the steady rate.
   * @default 100
   */
  readonly burstLimit?: number;
}

export interface NotificationsHttpApiProps {
  /** Every route of the product (infra/definitions.ts ROUTES); nothing else is exposed. */
  readonly routes: readonly RouteDefinition[];
  /** The function behind each route's `function` name. */
  readonly functions: Readonly<Record<FunctionName, AppFunction>>;
  /** How long access log lines are kept, in days (a CloudWatch Logs retention period). */
  readonly accessLogRetentionDays: number;
  /**
   * @default - the ApiThrottleProps defaults
   */
  readonly throttle?: ApiThrottleProps;
}

/**
 * The HTTP API (API Gateway v2, payload format 2.0): one route per entry of ROUTES, each wired to its
 * function, with SigV4 (IAM) authorization where the route says `iam`. There is no catch-all route, so any
 * other path gets API Gateway's own 404 without invoking a function.
 */
export class NotificationsHttpApi extends Construct {
  readonly api: HttpApi;
  readonly stage: HttpStage;
  readonly accessLogGroup: LogGroup;

  constructor(scope: Construct, id: string, props: NotificationsHttpApiProps) {
    super(scope, id);

    this.accessLogGroup = new LogGroup(this, 'AccessLogs', {
      retention: toRetentionDays(props.accessLogRetentionDays),
    });

    // The $default stage is declared explicitly (not with createDefaultStage) because only an explicit stage
    // takes throttling and access log settings.
    this.api = new HttpApi(this, 'Api', { createDefaultStage: false });
    this.stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: props.throttle?.rateLimit ?? 50, burstLimit: props.throttle?.burstLimit ?? 100 },
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.accessLogGroup),
        // No query string, headers or body: they carry recipients' metadata, signatures and tokens.
        format: AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
      },
    });

    const integrations = new Map<FunctionName, HttpLambdaIntegration>();
    const integrationFor = (name: FunctionName) => {
      let integration = integrations.get(name);
      if (!integration) {
        integration = new HttpLambdaIntegration(`${name}-integration`, props.functions[name].function);
        integrations.set(name, integration);
      }
      return integration;
    };
    const authorizers: Record<RouteDefinition['auth'], IHttpRouteAuthorizer> = {
      iam: new HttpIamAuthorizer(),
      none: new HttpNoneAuthorizer(),
    };

    for (const route of props.routes) {
      const [created] = this.api.addRoutes({
        path: route.path,
        methods: [HttpMethod[route.method]],
        integration: integrationFor(route.function),
        authorizer: authorizers[route.auth],
      });
      if (created && route.auth === 'none') {
        Validations.of(created).acknowledge({
          id: 'AwsSolutions-APIG4',
          reason:
            `${route.method} ${route.path} is public by design: Cronofy cannot sign requests with AWS credentials ` +
            '(notifications are authenticated by their Cronofy-HMAC-SHA256 signature in the function), ' +
            "recipients' browsers follow redirect and link URLs without credentials, and /healthz is for load balancers.",
        });
      }
    }
  }

  /** The base URL of the API (`https://{id}.execute-api.{region}.amazonaws.com/`). */
  get url(): string {
    return this.stage.url;
  }
}
